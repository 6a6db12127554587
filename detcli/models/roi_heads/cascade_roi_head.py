"""Cascade R-CNN's RoI head (https://arxiv.org/abs/1712.00726): box heads in series, each on the last one's boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import ModuleList
from detcli.models.post_processing import multiclass_nms
from detcli.models.test_time_augs import merge_aug_bboxes, merge_aug_masks
from detcli.registry import BBOX_ASSIGNERS, BBOX_SAMPLERS, HEADS, ROI_EXTRACTORS
from detcli.structures.boxes import bbox2result, bbox2roi, bbox_mapping

from .base_roi_head import BaseRoIHead
from .standard_roi_head import DUMMY_MASK_ROIS
from .test_mixins import BBoxTestMixin, MaskTestMixin


def per_stage(cfg: Mapping | Sequence[Mapping], num_stages: int, what: str) -> list[Mapping]:
    """One cfg per stage: a list is taken as it is, a single dict is repeated."""
    cfgs = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg] * num_stages
    if len(cfgs) != num_stages:
        raise ConfigError(f"{what} has {len(cfgs)} entries for num_stages={num_stages}",
                          hint=f"give one {what} dict, or a list of {num_stages}")
    return cfgs


def weighted_stage_losses(losses: Mapping, stage: int, weight: float) -> dict:
    """``s{stage}.<name>``; entries named ``loss*`` are multiplied by the stage weight, metrics are not."""
    return {f"s{stage}.{name}": value * weight if "loss" in name else value for name, value in losses.items()}


@HEADS.register_module()
class CascadeRoIHead(BaseRoIHead, BBoxTestMixin, MaskTestMixin):
    """``num_stages`` box heads (and optional mask heads), ``bbox_head.i`` refining the boxes of stage ``i - 1``.

    Training: stage ``i`` samples RoIs with ``train_cfg[i]`` (rising IoU thresholds), its
    losses are logged as ``s{i}.loss_cls`` ... and weighted by ``stage_loss_weights[i]``;
    the regressed positives (sampled gts dropped) become the next stage's proposals.
    Testing: each stage regresses the last one's boxes by their best class; class scores are
    the mean of all stages' logits, boxes the last stage's; masks average every stage's.
    """

    def __init__(
        self,
        num_stages: int,
        stage_loss_weights: Sequence[float],
        bbox_roi_extractor: Mapping | Sequence[Mapping] | None = None,
        bbox_head: Mapping | Sequence[Mapping] | None = None,
        mask_roi_extractor: Mapping | Sequence[Mapping] | None = None,
        mask_head: Mapping | Sequence[Mapping] | None = None,
        shared_head: Mapping | None = None,
        train_cfg: Sequence[Mapping] | None = None,
        test_cfg: Mapping | None = None,
        pretrained: str | None = None,
        init_cfg: Mapping | None = None,
    ) -> None:
        if bbox_roi_extractor is None or bbox_head is None:
            raise ConfigError(f"{type(self).__name__} needs bbox_roi_extractor and bbox_head")
        if shared_head is not None:
            raise ConfigError(f"{type(self).__name__} does not support a shared head",
                              hint="remove shared_head (cascade heads pool from FPN levels)")
        if len(stage_loss_weights) != num_stages:
            raise ConfigError(f"stage_loss_weights {list(stage_loss_weights)} needs {num_stages} entries")
        if train_cfg is not None and len(train_cfg) != num_stages:
            raise ConfigError(f"train_cfg.rcnn has {len(train_cfg)} entries for num_stages={num_stages}",
                              hint="give a list of one rcnn train cfg per stage")
        self.num_stages = num_stages
        self.stage_loss_weights = list(stage_loss_weights)
        super().__init__(
            bbox_roi_extractor=bbox_roi_extractor, bbox_head=bbox_head, mask_roi_extractor=mask_roi_extractor,
            mask_head=mask_head, shared_head=shared_head, train_cfg=train_cfg, test_cfg=test_cfg,
            pretrained=pretrained, init_cfg=init_cfg,
        )

    # -- construction --------------------------------------------------------------------
    def init_bbox_head(self, bbox_roi_extractor, bbox_head) -> None:
        extractors = per_stage(bbox_roi_extractor, self.num_stages, "bbox_roi_extractor")
        heads = per_stage(bbox_head, self.num_stages, "bbox_head")
        self.bbox_roi_extractor = ModuleList(ROI_EXTRACTORS.build(cfg) for cfg in extractors)
        self.bbox_head = ModuleList(HEADS.build(cfg) for cfg in heads)

    def init_mask_head(self, mask_roi_extractor, mask_head) -> None:
        self.mask_head = ModuleList(HEADS.build(cfg) for cfg in per_stage(mask_head, self.num_stages, "mask_head"))
        if mask_roi_extractor is not None:
            self.share_roi_extractor = False
            extractors = per_stage(mask_roi_extractor, self.num_stages, "mask_roi_extractor")
            self.mask_roi_extractor = ModuleList(ROI_EXTRACTORS.build(cfg) for cfg in extractors)
        else:
            self.share_roi_extractor = True
            self.mask_roi_extractor = self.bbox_roi_extractor

    def init_assigner_sampler(self) -> None:
        self.bbox_assigner = []
        self.bbox_sampler = []
        for idx, rcnn_train_cfg in enumerate(self.train_cfg or []):
            self.bbox_assigner.append(BBOX_ASSIGNERS.build(rcnn_train_cfg["assigner"]))
            self.current_stage = idx  # samplers that look at the head (OHEM) read it
            self.bbox_sampler.append(BBOX_SAMPLERS.build(rcnn_train_cfg["sampler"], default_args=dict(context=self)))

    # -- forward -------------------------------------------------------------------------
    def forward_dummy(self, x, proposals: torch.Tensor) -> tuple:
        outs: tuple = ()
        rois = bbox2roi([proposals])
        for i in range(self.num_stages):
            bbox_results = self._bbox_forward(i, x, rois)
            outs += (bbox_results["cls_score"], bbox_results["bbox_pred"])
        if self.with_mask:
            for i in range(self.num_stages):
                outs += (self._mask_forward(i, x, rois[:DUMMY_MASK_ROIS])["mask_pred"],)
        return outs

    def _bbox_forward(self, stage: int, x, rois: torch.Tensor) -> dict:
        extractor = self.bbox_roi_extractor[stage]
        bbox_feats = extractor(x[: extractor.num_inputs], rois)
        cls_score, bbox_pred = self.bbox_head[stage](bbox_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)

    def _mask_forward(self, stage: int, x, rois: torch.Tensor) -> dict:
        extractor = self.mask_roi_extractor[stage]
        mask_feats = extractor(x[: extractor.num_inputs], rois)
        return dict(mask_pred=self.mask_head[stage](mask_feats))

    # -- training ------------------------------------------------------------------------
    def _assign_and_sample(self, stage: int, x, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore) -> list:
        assigner, sampler = self.bbox_assigner[stage], self.bbox_sampler[stage]
        results = []
        for j in range(len(proposal_list)):
            assign_result = assigner.assign(proposal_list[j], gt_bboxes[j], gt_bboxes_ignore[j], gt_labels[j])
            results.append(sampler.sample(assign_result, proposal_list[j], gt_bboxes[j], gt_labels[j],
                                          feats=[level[j][None] for level in x]))
        return results

    def _bbox_forward_train(self, stage, x, sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg) -> dict:
        rois = bbox2roi([res.bboxes for res in sampling_results])
        bbox_results = self._bbox_forward(stage, x, rois)
        head = self.bbox_head[stage]
        targets = head.get_targets(sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg)
        loss_bbox = head.loss(bbox_results["cls_score"], bbox_results["bbox_pred"], rois, *targets)
        bbox_results.update(loss_bbox=loss_bbox, rois=rois, bbox_targets=targets)
        return bbox_results

    def _mask_forward_train(self, stage, x, sampling_results, gt_masks, rcnn_train_cfg, bbox_feats=None) -> dict:
        pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
        mask_results = self._mask_forward(stage, x, pos_rois)
        head = self.mask_head[stage]
        mask_targets = head.get_targets(sampling_results, gt_masks, rcnn_train_cfg)
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        mask_results.update(loss_mask=head.loss(mask_results["mask_pred"], mask_targets, pos_labels))
        return mask_results

    def _refined_proposals(self, stage: int, bbox_results: dict, sampling_results, img_metas):
        """The next stage's proposals; background RoIs are moved by their best foreground class's deltas."""
        head = self.bbox_head[stage]
        cls_score = bbox_results["cls_score"]
        if head.custom_activation:
            cls_score = head.loss_cls.get_activation(cls_score)
        roi_labels = bbox_results["bbox_targets"][0]
        roi_labels = torch.where(roi_labels == head.num_classes, cls_score[:, :-1].argmax(1), roi_labels)
        return head.refine_bboxes(bbox_results["rois"], roi_labels, bbox_results["bbox_pred"],
                                  [res.pos_is_gt for res in sampling_results], img_metas)

    def forward_train(self, x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore=None,
                      gt_masks=None, **kwargs) -> dict:
        """Every stage's ``s{i}.loss_cls``, ``s{i}.acc``, ``s{i}.loss_bbox`` (and ``s{i}.loss_mask``)."""
        if gt_bboxes_ignore is None:
            gt_bboxes_ignore = [None] * len(img_metas)
        losses: dict = {}
        for i in range(self.num_stages):
            self.current_stage = i
            rcnn_train_cfg = self.train_cfg[i]
            weight = self.stage_loss_weights[i]
            sampling_results = self._assign_and_sample(i, x, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore)
            bbox_results = self._bbox_forward_train(i, x, sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg)
            losses.update(weighted_stage_losses(bbox_results["loss_bbox"], i, weight))
            if self.with_mask:
                mask_results = self._mask_forward_train(i, x, sampling_results, gt_masks, rcnn_train_cfg,
                                                        bbox_results["bbox_feats"])
                losses.update(weighted_stage_losses(mask_results["loss_mask"], i, weight))
            if i < self.num_stages - 1:
                if bbox_results["cls_score"].numel() == 0:  # no RoI anywhere in the batch
                    break
                with torch.no_grad():
                    proposal_list = self._refined_proposals(i, bbox_results, sampling_results, img_metas)
        return losses

    # -- inference -----------------------------------------------------------------------
    @property
    def final_mask_head(self):
        """The mask head that pastes the masks: the last stage's (or the only one, as in SCNet)."""
        return self.mask_head[-1] if isinstance(self.mask_head, nn.ModuleList) else self.mask_head

    def _empty_results(self, num_imgs: int) -> list:
        bbox_results = [[np.zeros((0, 5), dtype=np.float32) for _ in range(self.bbox_head[-1].num_classes)]
                        for _ in range(num_imgs)]
        if not self.with_mask:
            return bbox_results
        return [(b, [[] for _ in range(self.final_mask_head.num_classes)]) for b in bbox_results]

    def _stage_forward_test(self, stage: int, x, rois: torch.Tensor, **kwargs) -> dict:
        """Hook for subclasses whose box branch sees more than the RoI features (HTC's semantic features)."""
        return self._bbox_forward(stage, x, rois)

    def _cascade_boxes(self, x, rois: torch.Tensor, img_metas, per_img, **kwargs):
        """Run every stage on ``rois``: per image the final RoIs, the stage-mean logits and the last box deltas."""
        ms_scores = []
        for i in range(self.num_stages):
            bbox_results = self._stage_forward_test(i, x, rois, **kwargs)
            cls_score = bbox_results["cls_score"].split(per_img, 0)
            bbox_pred = bbox_results["bbox_pred"]
            if isinstance(bbox_pred, torch.Tensor):
                bbox_pred = bbox_pred.split(per_img, 0)
            else:  # heads whose box output is not one tensor split themselves
                bbox_pred = self.bbox_head[i].bbox_pred_split(bbox_pred, per_img)
            rois = rois.split(per_img, 0)
            ms_scores.append(cls_score)
            if i < self.num_stages - 1:
                head = self.bbox_head[i]
                if head.custom_activation:
                    cls_score = [head.loss_cls.get_activation(s) for s in cls_score]
                rois = torch.cat([
                    head.regress_by_class(rois[j], cls_score[j][:, :-1].argmax(dim=1), bbox_pred[j], img_metas[j])
                    for j in range(len(img_metas)) if rois[j].shape[0] > 0
                ])
        mean_scores = [sum(score[j] for score in ms_scores) / float(len(ms_scores)) for j in range(len(img_metas))]
        return rois, mean_scores, bbox_pred

    def simple_test(self, x, proposal_list, img_metas, proposals=None, rescale=False, **kwargs):
        """Per image: per-class ``(n, 5)`` arrays, or ``(bbox_results, segm_results)`` with mask heads."""
        rois = bbox2roi(proposal_list)
        if rois.shape[0] == 0:
            return self._empty_results(len(proposal_list))
        per_img = tuple(len(p) for p in proposal_list)
        rois, cls_score, bbox_pred = self._cascade_boxes(x, rois, img_metas, per_img, **kwargs)
        det_bboxes, det_labels = [], []
        for i, meta in enumerate(img_metas):
            det_bbox, det_label = self.bbox_head[-1].get_bboxes(
                rois[i], cls_score[i], bbox_pred[i], meta["img_shape"], meta["scale_factor"], rescale=rescale,
                cfg=self.test_cfg)
            det_bboxes.append(det_bbox)
            det_labels.append(det_label)
        num_classes = self.bbox_head[-1].num_classes
        bbox_results = [bbox2result(b, lab, num_classes) for b, lab in zip(det_bboxes, det_labels)]
        if not self.with_mask:
            return bbox_results
        segm_results = self._simple_test_masks(x, img_metas, det_bboxes, det_labels, rescale, **kwargs)
        return list(zip(bbox_results, segm_results))

    def _stage_mask_probs(self, x, mask_rois: torch.Tensor, **kwargs) -> list[torch.Tensor]:
        """Every stage's mask probabilities for ``mask_rois``."""
        return [self._mask_forward(i, x, mask_rois)["mask_pred"].sigmoid() for i in range(self.num_stages)]

    def _simple_test_masks(self, x, img_metas, det_bboxes, det_labels, rescale, **kwargs) -> list:
        num_classes = self.final_mask_head.num_classes
        if all(b.shape[0] == 0 for b in det_bboxes):
            return [[[] for _ in range(num_classes)] for _ in det_bboxes]
        scale_factors = [meta["scale_factor"] for meta in img_metas]
        if rescale and not isinstance(scale_factors[0], float):
            scale_factors = [torch.as_tensor(np.asarray(sf), device=det_bboxes[0].device) for sf in scale_factors]
        # detections were rescaled to the original image; the mask RoIs live on the network input
        boxes = [b[:, :4] * sf if rescale else b[:, :4] for b, sf in zip(det_bboxes, scale_factors)]
        per_img = tuple(len(b) for b in boxes)
        stage_probs = [p.split(per_img, 0) for p in self._stage_mask_probs(x, bbox2roi(boxes), **kwargs)]
        segm_results = []
        for i, meta in enumerate(img_metas):
            if det_bboxes[i].shape[0] == 0:
                segm_results.append([[] for _ in range(num_classes)])
                continue
            merged = merge_aug_masks([p[i].cpu().numpy() for p in stage_probs], [[meta]] * self.num_stages,
                                     self.test_cfg)
            segm_results.append(self.final_mask_head.get_seg_masks(
                merged, boxes[i], det_labels[i], self.test_cfg, meta["ori_shape"], scale_factors[i], rescale))
        return segm_results

    def _aug_test_extras(self, features) -> list[dict]:
        """Per augmentation, the extra inputs of the stage hooks (none here; HTC's semantic features)."""
        return [{} for _ in features]

    def aug_test(self, features, proposal_list, img_metas, rescale=False):
        """One image under several augmentations: stage-averaged boxes of each, merged, then NMS."""
        aug_bboxes, aug_scores = [], []
        aug_kwargs = self._aug_test_extras(features)
        for x, img_meta, extra in zip(features, img_metas, aug_kwargs):
            meta = img_meta[0]
            proposals = bbox_mapping(proposal_list[0][:, :4], meta["img_shape"], meta["scale_factor"],
                                     meta["flip"], meta.get("flip_direction", "horizontal"))
            rois = bbox2roi([proposals])
            if rois.shape[0] == 0:
                aug_bboxes.append(rois.new_zeros(0, 4))
                aug_scores.append(rois.new_zeros(0, 1))
                continue
            rois, cls_score, bbox_pred = self._cascade_boxes(x, rois, img_meta, (rois.shape[0],), **extra)
            bboxes, scores = self.bbox_head[-1].get_bboxes(rois[0], cls_score[0], bbox_pred[0], meta["img_shape"],
                                                          meta["scale_factor"], rescale=False, cfg=None)
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
        merged_bboxes, merged_scores = merge_aug_bboxes(aug_bboxes, aug_scores, img_metas, self.test_cfg)
        det_bboxes, det_labels = multiclass_nms(merged_bboxes, merged_scores, self.test_cfg["score_thr"],
                                                self.test_cfg["nms"], self.test_cfg["max_per_img"])
        out_bboxes = det_bboxes
        if not rescale:  # boxes fit the first augmentation's scale
            out_bboxes = det_bboxes.clone()
            out_bboxes[:, :4] *= det_bboxes.new_tensor(img_metas[0][0]["scale_factor"])
        bbox_result = bbox2result(out_bboxes, det_labels, self.bbox_head[-1].num_classes)
        if not self.with_mask:
            return [bbox_result]
        if det_bboxes.shape[0] == 0:
            return [(bbox_result, [[] for _ in range(self.final_mask_head.num_classes)])]
        aug_masks, aug_metas = [], []
        for x, img_meta, extra in zip(features, img_metas, aug_kwargs):
            meta = img_meta[0]
            boxes = bbox_mapping(det_bboxes[:, :4], meta["img_shape"], meta["scale_factor"], meta["flip"],
                                 meta.get("flip_direction", "horizontal"))
            for probs in self._stage_mask_probs(x, bbox2roi([boxes]), **extra):
                aug_masks.append(probs.cpu().numpy())
                aug_metas.append(img_meta)
        merged = merge_aug_masks(aug_masks, aug_metas, self.test_cfg)
        # masks are pasted at the original scale, whatever rescale says
        segm_result = self.final_mask_head.get_seg_masks(merged, det_bboxes, det_labels, self.test_cfg,
                                                       img_metas[0][0]["ori_shape"], scale_factor=np.ones(4),
                                                       rescale=False)
        return [(bbox_result, segm_result)]
