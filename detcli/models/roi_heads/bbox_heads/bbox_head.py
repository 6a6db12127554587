"""The simplest box head: classify and regress each RoI feature with one linear layer each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule
from detcli.models.losses import accuracy
from detcli.models.post_processing import multiclass_nms
from detcli.registry import BBOX_CODERS, HEADS, LOSSES

DEFAULT_BBOX_CODER = dict(
    type="DeltaXYWHBBoxCoder",
    clip_border=True,
    target_means=[0.0, 0.0, 0.0, 0.0],
    target_stds=[0.1, 0.1, 0.2, 0.2],
)


def build_linear_layer(cfg: Mapping | None, in_features: int, out_features: int) -> nn.Module:
    """A predictor layer from ``cls_predictor_cfg`` / ``reg_predictor_cfg`` (only ``Linear`` ships)."""
    cfg = dict(cfg or dict(type="Linear"))
    layer_type = cfg.pop("type", "Linear")
    if layer_type != "Linear":
        raise ConfigError(
            f"unknown predictor layer type {layer_type!r} in a bbox head",
            hint="use dict(type='Linear'), or override the head's predictor in a subclass",
        )
    return nn.Linear(in_features, out_features, **cfg)


def _cfg_get(cfg, key, default=None):
    """Read a train/test cfg entry whether it is a dict, a ConfigDict or missing."""
    if cfg is None:
        return default
    return cfg.get(key, default)


@HEADS.register_module()
class BBoxHead(BaseModule):
    """Linear ``fc_cls`` (``num_classes + 1`` scores, background last) and ``fc_reg`` on RoI features.

    ``fc_reg`` predicts one set of deltas per class unless ``reg_class_agnostic``.
    ``reg_decoded_bbox`` makes the regression loss see decoded boxes (IoU-style losses).
    """

    def __init__(
        self,
        with_avg_pool: bool = False,
        with_cls: bool = True,
        with_reg: bool = True,
        roi_feat_size: int | Sequence[int] = 7,
        in_channels: int = 256,
        num_classes: int = 80,
        bbox_coder: Mapping = DEFAULT_BBOX_CODER,
        reg_class_agnostic: bool = False,
        reg_decoded_bbox: bool = False,
        reg_predictor_cfg: Mapping = dict(type="Linear"),
        cls_predictor_cfg: Mapping = dict(type="Linear"),
        loss_cls: Mapping = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        loss_bbox: Mapping = dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),
        init_cfg: Mapping | list | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if not (with_cls or with_reg):
            raise ConfigError(
                f"{type(self).__name__}: with_cls and with_reg are both False",
                hint="a bbox head needs a classification or a regression branch",
            )
        self.with_avg_pool = with_avg_pool
        self.with_cls = with_cls
        self.with_reg = with_reg
        self.roi_feat_size = _pair(roi_feat_size)
        self.roi_feat_area = self.roi_feat_size[0] * self.roi_feat_size[1]
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.reg_class_agnostic = reg_class_agnostic
        self.reg_decoded_bbox = reg_decoded_bbox
        self.reg_predictor_cfg = reg_predictor_cfg
        self.cls_predictor_cfg = cls_predictor_cfg
        self.fp16_enabled = False

        self.bbox_coder = BBOX_CODERS.build(bbox_coder)
        self.loss_cls = LOSSES.build(loss_cls)
        self.loss_bbox = LOSSES.build(loss_bbox)

        in_features = in_channels
        if with_avg_pool:
            self.avg_pool = nn.AvgPool2d(self.roi_feat_size)
        else:
            in_features *= self.roi_feat_area
        if with_cls:
            self.fc_cls = build_linear_layer(cls_predictor_cfg, in_features, self.cls_out_channels)
        if with_reg:
            self.fc_reg = build_linear_layer(reg_predictor_cfg, in_features, self.reg_out_channels)
        self.debug_imgs = None
        if init_cfg is None:
            self.init_cfg = []
            if with_cls:
                self.init_cfg.append(dict(type="Normal", std=0.01, override=dict(name="fc_cls")))
            if with_reg:
                self.init_cfg.append(dict(type="Normal", std=0.001, override=dict(name="fc_reg")))

    # -- what the classification loss asks of the head ---------------------------------
    @property
    def custom_cls_channels(self) -> bool:
        return getattr(self.loss_cls, "custom_cls_channels", False)

    @property
    def custom_activation(self) -> bool:
        return getattr(self.loss_cls, "custom_activation", False)

    @property
    def custom_accuracy(self) -> bool:
        return getattr(self.loss_cls, "custom_accuracy", False)

    @property
    def cls_out_channels(self) -> int:
        if self.custom_cls_channels:
            return self.loss_cls.get_cls_channels(self.num_classes)
        return self.num_classes + 1  # + background

    @property
    def reg_out_channels(self) -> int:
        return 4 if self.reg_class_agnostic else 4 * self.num_classes

    # -- forward -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self.with_avg_pool:
            # AvgPool2d rejects empty batches; the mean is the same thing
            x = self.avg_pool(x).flatten(1) if x.numel() > 0 else x.mean(dim=(-1, -2))
        else:
            x = x.flatten(1)
        cls_score = self.fc_cls(x) if self.with_cls else None
        bbox_pred = self.fc_reg(x) if self.with_reg else None
        return cls_score, bbox_pred

    # -- training targets ----------------------------------------------------------------
    def _get_target_single(self, pos_bboxes, neg_bboxes, pos_gt_bboxes, pos_gt_labels, cfg):
        """Targets of one image's sampled RoIs, positives first (the sampler's order)."""
        num_pos = pos_bboxes.size(0)
        num_neg = neg_bboxes.size(0)
        num_samples = num_pos + num_neg
        # background is class index num_classes
        labels = pos_bboxes.new_full((num_samples,), self.num_classes, dtype=torch.long)
        label_weights = pos_bboxes.new_zeros(num_samples)
        bbox_targets = pos_bboxes.new_zeros(num_samples, 4)
        bbox_weights = pos_bboxes.new_zeros(num_samples, 4)
        if num_pos > 0:
            labels[:num_pos] = pos_gt_labels
            pos_weight = _cfg_get(cfg, "pos_weight", -1)
            label_weights[:num_pos] = 1.0 if pos_weight <= 0 else pos_weight
            if self.reg_decoded_bbox:
                bbox_targets[:num_pos] = pos_gt_bboxes
            else:
                bbox_targets[:num_pos] = self.bbox_coder.encode(pos_bboxes, pos_gt_bboxes)
            bbox_weights[:num_pos] = 1
        if num_neg > 0:
            label_weights[-num_neg:] = 1.0
        return labels, label_weights, bbox_targets, bbox_weights

    def get_targets(self, sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg, concat: bool = True):
        """``(labels, label_weights, bbox_targets, bbox_weights)`` of every sampled RoI in the batch."""
        per_image = [
            self._get_target_single(
                res.pos_bboxes, res.neg_bboxes, res.pos_gt_bboxes, res.pos_gt_labels, rcnn_train_cfg
            )
            for res in sampling_results
        ]
        labels, label_weights, bbox_targets, bbox_weights = (list(t) for t in zip(*per_image))
        if concat:
            return (
                torch.cat(labels, 0),
                torch.cat(label_weights, 0),
                torch.cat(bbox_targets, 0),
                torch.cat(bbox_weights, 0),
            )
        return labels, label_weights, bbox_targets, bbox_weights

    # -- losses --------------------------------------------------------------------------
    def loss(
        self,
        cls_score,
        bbox_pred,
        rois,
        labels,
        label_weights,
        bbox_targets,
        bbox_weights,
        reduction_override=None,
    ) -> dict:
        """``loss_cls`` + ``acc`` over all samples, ``loss_bbox`` over positives only."""
        losses: dict = {}
        if cls_score is not None:
            avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.0)
            if cls_score.numel() > 0:
                loss_cls = self.loss_cls(
                    cls_score, labels, label_weights, avg_factor=avg_factor,
                    reduction_override=reduction_override,
                )
                if isinstance(loss_cls, dict):
                    losses.update(loss_cls)
                else:
                    losses["loss_cls"] = loss_cls
                if self.custom_activation:
                    losses.update(self.loss_cls.get_accuracy(cls_score, labels))
                else:
                    losses["acc"] = accuracy(cls_score, labels)
        if bbox_pred is not None:
            pos = (labels >= 0) & (labels < self.num_classes)
            if pos.any():
                if self.reg_decoded_bbox:
                    bbox_pred = self.bbox_coder.decode(rois[:, 1:], bbox_pred)
                if self.reg_class_agnostic:
                    pos_bbox_pred = bbox_pred.view(bbox_pred.size(0), 4)[pos]
                else:
                    pos_bbox_pred = bbox_pred.view(bbox_pred.size(0), -1, 4)[pos, labels[pos]]
                losses["loss_bbox"] = self.loss_bbox(
                    pos_bbox_pred, bbox_targets[pos], bbox_weights[pos],
                    avg_factor=bbox_targets.size(0), reduction_override=reduction_override,
                )
            else:
                # keeps fc_reg in the graph with a zero loss
                losses["loss_bbox"] = bbox_pred[pos].sum()
        return losses

    # -- inference -----------------------------------------------------------------------
    def get_bboxes(self, rois, cls_score, bbox_pred, img_shape, scale_factor, rescale: bool = False, cfg=None):
        """Decode one image's RoIs; with ``cfg`` (the rcnn test cfg) also run multi-class NMS.

        Returns ``(det_bboxes (n, 5), det_labels (n,))`` with ``cfg``, else the raw
        ``(bboxes (n, 4 * C), scores (n, C + 1))`` that test-time augmentation merges.
        """
        if self.custom_cls_channels:
            scores = self.loss_cls.get_activation(cls_score)
        else:
            scores = F.softmax(cls_score, dim=-1) if cls_score is not None else None
        if bbox_pred is not None:
            bboxes = self.bbox_coder.decode(rois[..., 1:], bbox_pred, max_shape=img_shape)
        else:
            bboxes = rois[:, 1:].clone()
            if img_shape is not None:
                bboxes[:, 0::2] = bboxes[:, 0::2].clamp(min=0, max=img_shape[1])
                bboxes[:, 1::2] = bboxes[:, 1::2].clamp(min=0, max=img_shape[0])
        if rescale and bboxes.size(0) > 0:
            factor = bboxes.new_tensor(scale_factor)
            bboxes = (bboxes.view(bboxes.size(0), -1, 4) / factor).view(bboxes.size(0), -1)
        if cfg is None:
            return bboxes, scores
        return multiclass_nms(bboxes, scores, cfg["score_thr"], cfg["nms"], cfg["max_per_img"])

    def refine_bboxes(self, rois, labels, bbox_preds, pos_is_gts, img_metas) -> list[torch.Tensor]:
        """Boxes of the next cascade stage: RoIs moved by their class's deltas, sampled gts dropped."""
        refined = []
        for i, img_meta in enumerate(img_metas):
            inds = (rois[:, 0] == i).nonzero(as_tuple=False).squeeze(1)
            bboxes = self.regress_by_class(rois[inds, 1:], labels[inds], bbox_preds[inds], img_meta)
            is_gt = pos_is_gts[i].bool()
            keep = torch.ones(inds.numel(), dtype=torch.bool, device=rois.device)
            keep[: is_gt.numel()] = ~is_gt
            refined.append(bboxes[keep])
        return refined

    def regress_by_class(self, rois, label, bbox_pred, img_meta) -> torch.Tensor:
        """Apply the deltas of each RoI's class (``rois`` are ``(n, 4)`` or ``(n, 5)`` with batch index)."""
        if rois.size(1) not in (4, 5):
            raise ValueError(f"rois must be (n, 4) or (n, 5), got {tuple(rois.shape)}")
        if not self.reg_class_agnostic:
            cols = label[:, None] * 4 + torch.arange(4, device=label.device)
            bbox_pred = torch.gather(bbox_pred, 1, cols)
        max_shape = img_meta["img_shape"]
        if rois.size(1) == 4:
            return self.bbox_coder.decode(rois, bbox_pred, max_shape=max_shape)
        boxes = self.bbox_coder.decode(rois[:, 1:], bbox_pred, max_shape=max_shape)
        return torch.cat((rois[:, [0]], boxes), dim=1)
