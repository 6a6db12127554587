"""``SSDHead`` (Liu et al., 2016) and its SSDLite form (``use_depthwise=True``).

Per level one classifier and one regressor (3x3 convs; SSDLite: a depthwise 3x3
ConvModule then 1x1 convs), softmax over ``num_classes + 1``. Training uses hard negative
mining: per image all positives plus the ``neg_pos_ratio`` times as many negatives with
the highest classification loss, normalised by the number of positives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.models.layers import ConvModule, DepthwiseSeparableConvModule
from detcli.models.losses import smooth_l1_loss
from detcli.models.task_modules import build_assigner, build_bbox_coder, build_prior_generator, build_sampler
from detcli.registry import HEADS

from .anchor_head import AnchorHead
from .base_dense_head import BaseDenseHead


@HEADS.register_module()
class SSDHead(AnchorHead):
    def __init__(
        self,
        num_classes: int = 80,
        in_channels: Sequence[int] = (512, 1024, 512, 256, 256, 256),
        stacked_convs: int = 0,
        feat_channels: int = 256,
        use_depthwise: bool = False,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        act_cfg: Mapping | None = None,
        anchor_generator: Mapping = dict(type="SSDAnchorGenerator", scale_major=False, input_size=300,
                                         strides=[8, 16, 32, 64, 100, 300],
                                         ratios=([2], [2, 3], [2, 3], [2, 3], [2], [2]),
                                         basesize_ratio_range=(0.1, 0.9)),
        bbox_coder: Mapping = dict(type="DeltaXYWHBBoxCoder", clip_border=True, target_means=[0.0, 0.0, 0.0, 0.0],
                                   target_stds=[1.0, 1.0, 1.0, 1.0]),
        reg_decoded_bbox: bool = False,
        train_cfg: Mapping | None = None,
        test_cfg: Mapping | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Xavier", layer="Conv2d", distribution="uniform",
                                                            bias=0),
    ) -> None:
        BaseDenseHead.__init__(self, init_cfg)  # AnchorHead's losses are not used: SSD computes its own
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.stacked_convs = stacked_convs
        self.feat_channels = feat_channels
        self.use_depthwise = use_depthwise
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.cls_out_channels = num_classes + 1  # softmax with a background class
        self.prior_generator = build_prior_generator(anchor_generator)
        self.num_base_priors = self.prior_generator.num_base_priors
        self._init_layers()
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.reg_decoded_bbox = reg_decoded_bbox
        self.use_sigmoid_cls = False
        self.cls_focal_loss = False
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.sampling = False
        if train_cfg:
            self.assigner = build_assigner(train_cfg["assigner"])
            self.sampler = build_sampler(dict(type="PseudoSampler"), context=self)
        self.fp16_enabled = False

    @property
    def num_anchors(self) -> list[int]:
        return self.num_base_priors

    def _branch(self, in_channels: int, out_channels: int) -> nn.Sequential:
        conv = DepthwiseSeparableConvModule if self.use_depthwise else ConvModule
        cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        layers: list[nn.Module] = []
        for _ in range(self.stacked_convs):
            layers.append(conv(in_channels, self.feat_channels, 3, padding=1, **cfg))
            in_channels = self.feat_channels
        if self.use_depthwise:
            layers.append(ConvModule(in_channels, in_channels, 3, padding=1, groups=in_channels, **cfg))
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=1 if self.use_depthwise else 3,
                                padding=0 if self.use_depthwise else 1))
        return nn.Sequential(*layers)

    def _init_layers(self) -> None:
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for channels, num_priors in zip(self.in_channels, self.num_base_priors):
            self.cls_convs.append(self._branch(channels, num_priors * self.cls_out_channels))
            self.reg_convs.append(self._branch(channels, num_priors * 4))

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cls_scores = [cls_conv(feat) for feat, cls_conv in zip(feats, self.cls_convs)]
        bbox_preds = [reg_conv(feat) for feat, reg_conv in zip(feats, self.reg_convs)]
        return cls_scores, bbox_preds

    # -- training ---------------------------------------------------------------------
    def loss_single(self, cls_score, bbox_pred, anchor, labels, label_weights, bbox_targets, bbox_weights,
                    num_total_samples):
        """One image: all positives + the hardest ``neg_pos_ratio`` x as many negatives."""
        loss_cls_all = F.cross_entropy(cls_score, labels, reduction="none") * label_weights
        pos_inds = ((labels >= 0) & (labels < self.num_classes)).nonzero(as_tuple=False).reshape(-1)
        neg_inds = (labels == self.num_classes).nonzero(as_tuple=False).view(-1)
        num_neg = min(self.train_cfg["neg_pos_ratio"] * pos_inds.size(0), neg_inds.size(0))
        topk_loss_cls_neg, _ = loss_cls_all[neg_inds].topk(num_neg)
        loss_cls = (loss_cls_all[pos_inds].sum() + topk_loss_cls_neg.sum()) / num_total_samples
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchor, bbox_pred)
        loss_bbox = smooth_l1_loss(bbox_pred, bbox_targets, bbox_weights, beta=self.train_cfg["smoothl1_beta"],
                                   avg_factor=num_total_samples)
        return loss_cls[None], loss_bbox

    def loss(self, cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=None) -> dict | None:
        """``dict(loss_cls=[per image], loss_bbox=[per image])``."""
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        if len(featmap_sizes) != self.prior_generator.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature levels for {self.prior_generator.num_levels} anchor levels")
        anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, img_metas, device=cls_scores[0].device)
        targets = self.get_targets(anchor_list, valid_flag_list, gt_bboxes, img_metas,
                                   gt_bboxes_ignore_list=gt_bboxes_ignore, gt_labels_list=gt_labels,
                                   label_channels=1, unmap_outputs=True)
        if targets is None:
            return None
        labels, label_weights, bbox_targets, bbox_weights, num_total_pos, _ = targets[:6]
        num_images = len(img_metas)
        all_cls_scores = torch.cat([s.permute(0, 2, 3, 1).reshape(num_images, -1, self.cls_out_channels)
                                    for s in cls_scores], 1)
        all_bbox_preds = torch.cat([b.permute(0, 2, 3, 1).reshape(num_images, -1, 4) for b in bbox_preds], -2)
        all_labels = torch.cat(labels, -1).view(num_images, -1)
        all_label_weights = torch.cat(label_weights, -1).view(num_images, -1)
        all_bbox_targets = torch.cat(bbox_targets, -2).view(num_images, -1, 4)
        all_bbox_weights = torch.cat(bbox_weights, -2).view(num_images, -1, 4)
        all_anchors = [torch.cat(anchors) for anchors in anchor_list]
        per_image = [self.loss_single(*args, num_total_samples=num_total_pos)
                     for args in zip(all_cls_scores, all_bbox_preds, all_anchors, all_labels, all_label_weights,
                                     all_bbox_targets, all_bbox_weights)]
        losses_cls, losses_bbox = (list(x) for x in zip(*per_image))
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox)
