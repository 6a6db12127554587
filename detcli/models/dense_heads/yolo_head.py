"""``YOLOV3Head`` (Redmon & Farhadi, 2018): per level a 3x3 ConvModule bridge and a 1x1 prediction
of ``num_anchors * (5 + num_classes)`` channels: box (x, y, w, h), objectness, class scores.

Training: each gt is matched by ``GridAssigner`` among the anchors of the cell holding its
centre; losses are BCE for x/y offsets, objectness and classes, MSE for log sizes. Testing:
sigmoid on x/y, objectness and classes, decoding by ``YOLOBBoxCoder``, objectness threshold
``conf_thr``, then per-class NMS with scores multiplied by objectness.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import ConvModule, bias_init_with_prob, constant_init, is_norm, normal_init
from detcli.models.post_processing import multiclass_nms
from detcli.models.task_modules import (
    build_assigner,
    build_bbox_coder,
    build_prior_generator,
    build_sampler,
    images_to_levels,
)
from detcli.registry import HEADS, LOSSES

from .base_dense_head import BaseDenseHead

_BCE_SUM = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0)


@HEADS.register_module()
class YOLOV3Head(BaseDenseHead):
    """``in_channels`` / ``out_channels`` / ``featmap_strides`` are listed coarse -> fine."""

    def __init__(
        self,
        num_classes: int,
        in_channels: Sequence[int],
        out_channels: Sequence[int] = (1024, 512, 256),
        anchor_generator: Mapping = dict(type="YOLOAnchorGenerator",
                                         base_sizes=[[(116, 90), (156, 198), (373, 326)],
                                                     [(30, 61), (62, 45), (59, 119)],
                                                     [(10, 13), (16, 30), (33, 23)]],
                                         strides=[32, 16, 8]),
        bbox_coder: Mapping = dict(type="YOLOBBoxCoder"),
        featmap_strides: Sequence[int] = (32, 16, 8),
        one_hot_smoother: float = 0.0,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = dict(type="BN", requires_grad=True),
        act_cfg: Mapping | None = dict(type="LeakyReLU", negative_slope=0.1),
        loss_cls: Mapping = _BCE_SUM,
        loss_conf: Mapping = _BCE_SUM,
        loss_xy: Mapping = _BCE_SUM,
        loss_wh: Mapping = dict(type="MSELoss", loss_weight=1.0),
        train_cfg: Mapping | None = None,
        test_cfg: Mapping | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Normal", std=0.01, override=dict(name="convs_pred")),
    ) -> None:
        super().__init__(init_cfg)
        if not len(in_channels) == len(out_channels) == len(featmap_strides):
            raise ConfigError(f"YOLOV3Head: {len(in_channels)} in_channels, {len(out_channels)} out_channels and "
                              f"{len(featmap_strides)} featmap_strides must agree")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.featmap_strides = featmap_strides
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if train_cfg:
            self.assigner = build_assigner(train_cfg["assigner"])
            self.sampler = build_sampler(train_cfg.get("sampler") or dict(type="PseudoSampler"), context=self)
        self.fp16_enabled = False
        self.one_hot_smoother = one_hot_smoother
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.prior_generator = build_prior_generator(anchor_generator)
        self.loss_cls = LOSSES.build(loss_cls)
        self.loss_conf = LOSSES.build(loss_conf)
        self.loss_xy = LOSSES.build(loss_xy)
        self.loss_wh = LOSSES.build(loss_wh)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        if len(self.prior_generator.num_base_priors) != len(featmap_strides):
            raise ConfigError("YOLOV3Head: the anchor generator and featmap_strides have different level counts")
        self._init_layers()

    @property
    def anchor_generator(self):
        return self.prior_generator

    @property
    def num_anchors(self) -> int:
        return self.num_base_priors

    @property
    def num_levels(self) -> int:
        return len(self.featmap_strides)

    @property
    def num_attrib(self) -> int:
        """x, y, w, h, objectness and one score per class."""
        return 5 + self.num_classes

    def _init_layers(self) -> None:
        self.convs_bridge = nn.ModuleList()
        self.convs_pred = nn.ModuleList()
        for i in range(self.num_levels):
            self.convs_bridge.append(ConvModule(self.in_channels[i], self.out_channels[i], 3, padding=1,
                                                conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))
            self.convs_pred.append(nn.Conv2d(self.out_channels[i], self.num_base_priors * self.num_attrib, 1))

    def init_weights(self) -> None:
        """N(0, 0.01) convs; objectness biased to ~8 objects per 608x608 image, classes to 1 %."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                normal_init(module, mean=0, std=0.01)
            if is_norm(module):
                constant_init(module, 1)
        for conv_pred, stride in zip(self.convs_pred, self.featmap_strides):
            bias = conv_pred.bias.reshape(self.num_base_priors, -1)
            nn.init.constant_(bias.data[:, 4], bias_init_with_prob(8 / (608 / stride) ** 2))
            nn.init.constant_(bias.data[:, 5:], bias_init_with_prob(0.01))
        self._is_init = True

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[tuple[torch.Tensor, ...]]:
        """A 1-tuple holding one prediction map per level."""
        if len(feats) != self.num_levels:
            raise ValueError(f"YOLOV3Head expects {self.num_levels} feature maps, got {len(feats)}")
        return tuple(pred(bridge(x)) for x, bridge, pred in zip(feats, self.convs_bridge, self.convs_pred)),

    # -- inference ----------------------------------------------------------------------
    def get_bboxes(self, pred_maps: Sequence[torch.Tensor], img_metas: Sequence[Mapping], cfg: Mapping | None = None,
                   rescale: bool = False, with_nms: bool = True, **kwargs) -> list:
        """Per image ``(dets, labels)``; ``with_nms=False``: ``(bboxes, scores, labels)`` above ``score_thr``."""
        if len(pred_maps) != self.num_levels:
            raise ValueError(f"{len(pred_maps)} prediction maps for {self.num_levels} levels")
        cfg = self.test_cfg if cfg is None else cfg
        num_imgs = len(img_metas)
        featmap_sizes = [pred_map.shape[-2:] for pred_map in pred_maps]
        anchors = torch.cat(self.prior_generator.grid_priors(featmap_sizes, device=pred_maps[0].device))
        preds, strides = [], []
        for pred, stride in zip(pred_maps, self.featmap_strides):
            pred = pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_attrib)
            preds.append(torch.cat([pred[..., :2].sigmoid(), pred[..., 2:]], dim=-1))
            strides.append(pred.new_tensor(stride).expand(pred.size(1)))
        preds = torch.cat(preds, dim=1)
        bboxes = self.bbox_coder.decode(anchors, preds[..., :4], torch.cat(strides).unsqueeze(-1))
        objectness = preds[..., 4].sigmoid()
        cls_scores = preds[..., 5:].sigmoid()
        if rescale:
            scale_factors = np.array([meta["scale_factor"] for meta in img_metas])
            bboxes = bboxes / bboxes.new_tensor(scale_factors).unsqueeze(1)
        # the background column multiclass_nms expects
        cls_scores = torch.cat([cls_scores, cls_scores.new_zeros(num_imgs, cls_scores.shape[1], 1)], dim=-1)
        results = []
        conf_thr = cfg.get("conf_thr", -1)
        for img_bboxes, img_scores, img_objectness in zip(bboxes, cls_scores, objectness):
            if conf_thr > 0:
                keep = img_objectness >= conf_thr
                img_bboxes, img_scores, img_objectness = img_bboxes[keep], img_scores[keep], img_objectness[keep]
            if not with_nms:
                results.append(self._scored_pairs(img_bboxes, img_scores, img_objectness, cfg["score_thr"]))
                continue
            results.append(multiclass_nms(img_bboxes, img_scores, cfg["score_thr"], cfg["nms"], cfg["max_per_img"],
                                          score_factors=img_objectness))
        return results

    @staticmethod
    def _scored_pairs(bboxes, scores, objectness, score_thr):
        """``(bboxes, scores, labels)`` of every (box, class) above ``score_thr``, scores times objectness."""
        scores = scores[:, :-1]
        box_ids, labels = (scores > score_thr).nonzero(as_tuple=True)
        return bboxes[box_ids], scores[box_ids, labels] * objectness[box_ids], labels

    # -- training -------------------------------------------------------------------------
    def loss(self, pred_maps, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=None) -> dict:
        num_imgs = len(img_metas)
        device = pred_maps[0][0].device
        featmap_sizes = [pred_maps[i].shape[-2:] for i in range(self.num_levels)]
        mlvl_anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
        responsible = [self.prior_generator.responsible_flags(featmap_sizes, gt_bboxes[i], device)
                       for i in range(num_imgs)]
        target_maps, neg_maps = self.get_targets([mlvl_anchors] * num_imgs, responsible, gt_bboxes, gt_labels)
        per_level = [self.loss_single(*args) for args in zip(pred_maps, target_maps, neg_maps)]
        losses_cls, losses_conf, losses_xy, losses_wh = (list(x) for x in zip(*per_level))
        return dict(loss_cls=losses_cls, loss_conf=losses_conf, loss_xy=losses_xy, loss_wh=losses_wh)

    def loss_single(self, pred_map, target_map, neg_map):
        num_imgs = len(pred_map)
        pred_map = pred_map.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_attrib)
        pos_mask = target_map[..., 4]
        pos_and_neg_mask = neg_map.float() + pos_mask
        pos_mask = pos_mask.unsqueeze(dim=-1)
        if torch.max(pos_and_neg_mask) > 1.0:
            warnings.warn("YOLOV3Head: some anchors are both positive and negative", stacklevel=2)
            pos_and_neg_mask = pos_and_neg_mask.clamp(min=0.0, max=1.0)
        loss_cls = self.loss_cls(pred_map[..., 5:], target_map[..., 5:], weight=pos_mask)
        loss_conf = self.loss_conf(pred_map[..., 4], target_map[..., 4], weight=pos_and_neg_mask)
        loss_xy = self.loss_xy(pred_map[..., :2], target_map[..., :2], weight=pos_mask)
        loss_wh = self.loss_wh(pred_map[..., 2:4], target_map[..., 2:4], weight=pos_mask)
        return loss_cls, loss_conf, loss_xy, loss_wh

    def get_targets(self, anchor_list, responsible_flag_list, gt_bboxes_list, gt_labels_list):
        """Per level ``(num_imgs, anchors, 5 + C)`` target maps and ``(num_imgs, anchors)`` negative maps."""
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        per_image = [self._get_targets_single(*args)
                     for args in zip(anchor_list, responsible_flag_list, gt_bboxes_list, gt_labels_list)]
        target_maps, neg_maps = zip(*per_image)
        return images_to_levels(target_maps, num_level_anchors), images_to_levels(neg_maps, num_level_anchors)

    def _get_targets_single(self, anchors, responsible_flags, gt_bboxes, gt_labels):
        anchor_strides = torch.cat([torch.tensor(self.featmap_strides[i], device=gt_bboxes.device).repeat(len(level))
                                    for i, level in enumerate(anchors)])
        anchors = torch.cat(anchors)
        assign_result = self.assigner.assign(anchors, torch.cat(responsible_flags), gt_bboxes)
        sampling_result = self.sampler.sample(assign_result, anchors, gt_bboxes)
        pos_inds = sampling_result.pos_inds
        target_map = anchors.new_zeros(anchors.size(0), self.num_attrib)
        target_map[pos_inds, :4] = self.bbox_coder.encode(sampling_result.pos_bboxes, sampling_result.pos_gt_bboxes,
                                                          anchor_strides[pos_inds])
        target_map[pos_inds, 4] = 1
        one_hot = F.one_hot(gt_labels, num_classes=self.num_classes).float()
        if self.one_hot_smoother != 0:  # label smoothing
            one_hot = one_hot * (1 - self.one_hot_smoother) + self.one_hot_smoother / self.num_classes
        target_map[pos_inds, 5:] = one_hot[sampling_result.pos_assigned_gt_inds]
        neg_map = anchors.new_zeros(anchors.size(0), dtype=torch.uint8)
        neg_map[sampling_result.neg_inds] = 1
        return target_map, neg_map
