"""``BaseDenseHead``: what every dense (per-location) head shares at test time.

Per image and level: scores -> score threshold + top ``nms_pre`` -> decode against the
priors (clipped to the image) -> concatenate levels -> optional rescale to the original
image -> class-aware NMS -> ``max_per_img`` best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from detcli.models.layers import BaseModule
from detcli.models.post_processing import batched_nms, filter_scores_and_topk, select_single_mlvl
from detcli.structures.boxes import bbox_mapping_back

Result = tuple[torch.Tensor, torch.Tensor]  # (dets (n, 5), labels (n,))


class BaseDenseHead(BaseModule):
    """Subclasses provide ``forward``, ``loss``, ``prior_generator``, ``bbox_coder``,
    ``cls_out_channels``, ``use_sigmoid_cls`` and ``test_cfg``."""

    def loss(self, *args, **kwargs) -> dict:
        raise NotImplementedError

    # -- training ------------------------------------------------------------------
    def forward_train(self, x: Sequence[torch.Tensor], img_metas: Sequence[Mapping], gt_bboxes: Sequence[torch.Tensor],
                      gt_labels: Sequence[torch.Tensor] | None = None,
                      gt_bboxes_ignore: Sequence[torch.Tensor] | None = None, proposal_cfg: Mapping | None = None,
                      **kwargs):
        """Losses; with ``proposal_cfg`` also this batch's detections (the RPN's proposals)."""
        outs = self(x)
        if gt_labels is None:
            losses = self.loss(*outs, gt_bboxes, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        else:
            losses = self.loss(*outs, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        if proposal_cfg is None:
            return losses
        return losses, self.get_bboxes(*outs, img_metas=img_metas, cfg=proposal_cfg)

    # -- inference -------------------------------------------------------------------
    def get_bboxes(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                   score_factors: Sequence[torch.Tensor] | None = None, img_metas: Sequence[Mapping] | None = None,
                   cfg: Mapping | None = None, rescale: bool = False, with_nms: bool = True, **kwargs) -> list:
        """Per image ``(dets, labels)`` (``with_nms=False``: ``(bboxes, scores, labels)`` before NMS)."""
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(f"{len(cls_scores)} score levels for {len(bbox_preds)} box levels")
        num_levels = len(cls_scores)
        featmap_sizes = [cls_scores[i].shape[-2:] for i in range(num_levels)]
        mlvl_priors = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                                       device=cls_scores[0].device)
        results = []
        for img_id, img_meta in enumerate(img_metas):
            factors = (select_single_mlvl(score_factors, img_id) if score_factors is not None
                       else [None] * num_levels)
            results.append(self._get_bboxes_single(
                select_single_mlvl(cls_scores, img_id), select_single_mlvl(bbox_preds, img_id), factors,
                mlvl_priors, img_meta, cfg, rescale, with_nms, **kwargs))
        return results

    def _get_bboxes_single(self, cls_score_list, bbox_pred_list, score_factor_list, mlvl_priors, img_meta, cfg,
                           rescale=False, with_nms=True, **kwargs):
        with_score_factors = score_factor_list[0] is not None
        cfg = self.test_cfg if cfg is None else cfg
        nms_pre = cfg.get("nms_pre", -1)
        mlvl_bboxes, mlvl_scores, mlvl_labels, mlvl_factors = [], [], [], []
        for cls_score, bbox_pred, score_factor, priors in zip(cls_score_list, bbox_pred_list, score_factor_list,
                                                              mlvl_priors):
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
            cls_score = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
            scores = cls_score.sigmoid() if self.use_sigmoid_cls else cls_score.softmax(-1)[:, :-1]
            scores, labels, keep, filtered = filter_scores_and_topk(
                scores, cfg["score_thr"], nms_pre, dict(bbox_pred=bbox_pred, priors=priors))
            mlvl_bboxes.append(self.bbox_coder.decode(filtered["priors"], filtered["bbox_pred"],
                                                      max_shape=img_meta["img_shape"]))
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
            if with_score_factors:
                mlvl_factors.append(score_factor.permute(1, 2, 0).reshape(-1).sigmoid()[keep])
        return self._bbox_post_process(mlvl_scores, mlvl_labels, mlvl_bboxes, img_meta["scale_factor"], cfg,
                                       rescale, with_nms, mlvl_factors if with_score_factors else None, **kwargs)

    def _bbox_post_process(self, mlvl_scores, mlvl_labels, mlvl_bboxes, scale_factor, cfg, rescale=False,
                           with_nms=True, mlvl_score_factors=None, **kwargs):
        bboxes = torch.cat(mlvl_bboxes)
        if rescale:
            bboxes = bboxes / bboxes.new_tensor(scale_factor)
        scores = torch.cat(mlvl_scores)
        labels = torch.cat(mlvl_labels)
        if mlvl_score_factors is not None:
            scores = scores * torch.cat(mlvl_score_factors)
        if not with_nms:
            return bboxes, scores, labels
        if bboxes.numel() == 0:
            return torch.cat([bboxes, scores[:, None]], -1), labels
        dets, keep = batched_nms(bboxes, scores, labels, cfg["nms"])
        max_per_img = cfg["max_per_img"]
        return dets[:max_per_img], labels[keep][:max_per_img]

    def simple_test_bboxes(self, feats, img_metas, rescale=False) -> list[Result]:
        return self.get_bboxes(*self(feats), img_metas=img_metas, rescale=rescale)

    def simple_test(self, feats, img_metas, rescale=False) -> list[Result]:
        """Detections ``(dets, labels)`` per image, for single-stage detectors."""
        return self.simple_test_bboxes(feats, img_metas, rescale=rescale)

    def aug_test_bboxes(self, feats, img_metas, rescale=False) -> list[Result]:
        """Pool every augmentation's pre-NMS boxes in original-image pixels, then one NMS.

        ``feats`` and ``img_metas`` are per augmentation (batch size 1).
        """
        aug_bboxes, aug_scores, aug_labels = [], [], []
        for x, img_meta in zip(feats, img_metas):
            bboxes, scores, labels = self.get_bboxes(*self(x), img_metas=img_meta, cfg=self.test_cfg,
                                                     rescale=False, with_nms=False)[0]
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
            aug_labels.append(labels)
        bboxes, scores = self.merge_aug_bboxes(aug_bboxes, aug_scores, img_metas)
        labels = torch.cat(aug_labels)
        if bboxes.numel() == 0:
            return [(torch.cat([bboxes, scores[:, None]], -1), labels)]
        dets, keep = batched_nms(bboxes, scores, labels, self.test_cfg["nms"])
        max_per_img = self.test_cfg["max_per_img"]
        dets, labels = dets[:max_per_img], labels[keep][:max_per_img]
        if not rescale:  # back to the first augmentation's scale
            dets = dets.clone()
            dets[:, :4] *= dets.new_tensor(img_metas[0][0]["scale_factor"])
        return [(dets, labels)]

    def aug_test(self, feats, img_metas, rescale=False) -> list[Result]:
        return self.aug_test_bboxes(feats, img_metas, rescale=rescale)

    def merge_aug_bboxes(self, aug_bboxes, aug_scores, img_metas):
        """Map each augmentation's boxes back to the original image and concatenate them."""
        recovered = []
        for bboxes, img_info in zip(aug_bboxes, img_metas):
            meta = img_info[0]
            recovered.append(bbox_mapping_back(bboxes, meta["img_shape"], meta["scale_factor"], meta["flip"],
                                               meta.get("flip_direction", "horizontal")))
        bboxes = torch.cat(recovered, dim=0)
        return bboxes if aug_scores is None else (bboxes, torch.cat(aug_scores, dim=0))
