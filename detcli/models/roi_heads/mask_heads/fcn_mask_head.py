"""Mask R-CNN's mask head: a small FCN over 14x14 RoI features predicting 28x28 masks per class."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.modules.utils import _pair

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import HEADS, LOSSES

from .mask_paste import paste_masks_in_image
from .mask_target import mask_target

UPSAMPLE_METHODS = (None, "deconv", "nearest", "bilinear")


def _predictor(cfg: Mapping | None, in_channels: int, out_channels: int) -> nn.Module:
    cfg = dict(cfg or dict(type="Conv"))
    layer_type = cfg.pop("type", "Conv")
    if layer_type not in ("Conv", "Conv2d"):
        raise ConfigError(
            f"FCNMaskHead: unknown predictor_cfg type {layer_type!r}", hint="use predictor_cfg=dict(type='Conv')"
        )
    return nn.Conv2d(in_channels, out_channels, 1, **cfg)


@HEADS.register_module()
class FCNMaskHead(BaseModule):
    """``convs`` (3x3) -> ``upsample`` (x2) -> ``conv_logits`` (1x1, one channel per class)."""

    def __init__(
        self,
        num_convs: int = 4,
        roi_feat_size: int = 14,
        in_channels: int = 256,
        conv_kernel_size: int = 3,
        conv_out_channels: int = 256,
        num_classes: int = 80,
        class_agnostic: bool = False,
        upsample_cfg: Mapping = dict(type="deconv", scale_factor=2),
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        predictor_cfg: Mapping = dict(type="Conv"),
        loss_mask: Mapping = dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0),
        init_cfg: Mapping | None = None,
    ) -> None:
        if init_cfg is not None:
            raise ConfigError(
                "FCNMaskHead does not take init_cfg", hint="its layers initialise themselves; remove init_cfg"
            )
        super().__init__(init_cfg)
        upsample_cfg = dict(upsample_cfg)
        method = upsample_cfg.pop("type", None)
        if method == "carafe":
            raise ConfigError(
                "FCNMaskHead: upsample type 'carafe' needs a compiled CUDA op that detcli does not ship",
                hint="use upsample_cfg=dict(type='deconv', scale_factor=2)",
            )
        if method not in UPSAMPLE_METHODS:
            raise ConfigError(
                f"FCNMaskHead: invalid upsample type {method!r}",
                hint="choose one of 'deconv', 'nearest', 'bilinear' or None",
            )
        self.upsample_cfg = dict(upsample_cfg, type=method)
        self.num_convs = num_convs
        self.roi_feat_size = _pair(roi_feat_size)
        self.in_channels = in_channels
        self.conv_kernel_size = conv_kernel_size
        self.conv_out_channels = conv_out_channels
        self.upsample_method = method
        self.scale_factor = upsample_cfg.pop("scale_factor", None)
        self.num_classes = num_classes
        self.class_agnostic = class_agnostic
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.predictor_cfg = predictor_cfg
        self.fp16_enabled = False
        self.loss_mask = LOSSES.build(loss_mask)

        padding = (conv_kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            ConvModule(
                in_channels if i == 0 else conv_out_channels,
                conv_out_channels,
                conv_kernel_size,
                padding=padding,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
            )
            for i in range(num_convs)
        )
        upsample_in = conv_out_channels if num_convs > 0 else in_channels
        if method is None:
            self.upsample = None
        elif method == "deconv":
            self.upsample = nn.ConvTranspose2d(
                upsample_in, conv_out_channels, kernel_size=self.scale_factor, stride=self.scale_factor,
                **upsample_cfg,
            )
        else:
            self.upsample = nn.Upsample(
                scale_factor=self.scale_factor, mode=method,
                align_corners=None if method == "nearest" else False, **upsample_cfg,
            )
        logits_in = conv_out_channels if method == "deconv" else upsample_in
        self.conv_logits = _predictor(predictor_cfg, logits_in, 1 if class_agnostic else num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.debug_imgs = None

    def init_weights(self) -> None:
        super().init_weights()
        for module in (self.upsample, self.conv_logits):
            if module is not None and getattr(module, "weight", None) is not None:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(module.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        return self._logits(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """The features after the convs -> upsampled (ReLU after a deconv) -> per-class mask logits."""
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == "deconv":
                x = self.relu(x)
        return self.conv_logits(x)

    # -- training ------------------------------------------------------------------------
    def get_targets(self, sampling_results, gt_masks, rcnn_train_cfg) -> torch.Tensor:
        return mask_target(
            [res.pos_bboxes for res in sampling_results],
            [res.pos_assigned_gt_inds for res in sampling_results],
            gt_masks,
            rcnn_train_cfg,
        )

    def loss(self, mask_pred: torch.Tensor, mask_targets: torch.Tensor, labels: torch.Tensor) -> dict:
        """Per-pixel BCE on the channel of each RoI's class (channel 0 when class-agnostic)."""
        if mask_pred.size(0) == 0:
            return dict(loss_mask=mask_pred.sum())
        if self.class_agnostic:
            labels = torch.zeros_like(labels)
        return dict(loss_mask=self.loss_mask(mask_pred, mask_targets, labels))

    # -- inference -----------------------------------------------------------------------
    def get_seg_masks(self, mask_pred, det_bboxes, det_labels, rcnn_test_cfg, ori_shape, scale_factor, rescale):
        """Per class, the list of full-image masks of that class's detections, in detection order.

        ``mask_pred`` is the logits tensor ``(n, C, h, w)`` or (merged test-time
        augmentation) an ndarray of probabilities. With ``rescale`` the masks cover the
        original image; otherwise the image resized by ``scale_factor``.
        """
        if isinstance(mask_pred, torch.Tensor):
            mask_pred = mask_pred.sigmoid()
        else:
            mask_pred = det_bboxes.new_tensor(mask_pred)
        bboxes = det_bboxes[:, :4]
        labels = det_labels
        if isinstance(scale_factor, float):
            scale_factor = np.array([scale_factor] * 4, dtype=np.float32)
        if not isinstance(scale_factor, torch.Tensor):
            scale_factor = torch.as_tensor(np.asarray(scale_factor), dtype=torch.float32)
        if rescale:
            img_h, img_w = ori_shape[:2]
            bboxes = bboxes / scale_factor.to(bboxes)
        else:
            img_h = int(np.round(ori_shape[0] * scale_factor[1].item()))
            img_w = int(np.round(ori_shape[1] * scale_factor[0].item()))

        num = mask_pred.size(0)
        if not self.class_agnostic:
            mask_pred = mask_pred[torch.arange(num, device=mask_pred.device), labels][:, None]
        else:
            mask_pred = mask_pred[:, :1]
        threshold = rcnn_test_cfg["mask_thr_binary"]
        im_masks = paste_masks_in_image(mask_pred, bboxes, int(img_h), int(img_w), threshold)
        im_masks = im_masks.cpu().numpy()
        cls_segms: list[list[np.ndarray]] = [[] for _ in range(self.num_classes)]
        for mask, label in zip(im_masks, labels.tolist()):
            cls_segms[label].append(mask)
        return cls_segms
