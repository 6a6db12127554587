"""``YOLOV3Neck``: top-down fusion of YOLOv3 — each coarser output is reduced by a 1x1 conv,
upsampled x2 (nearest) and concatenated with the next finer backbone level.

Inputs are ordered fine -> coarse (as the backbone returns them); outputs coarse -> fine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import NECKS

_DEFAULT_NORM = dict(type="BN", requires_grad=True)
_DEFAULT_ACT = dict(type="LeakyReLU", negative_slope=0.1)


class DetectionBlock(BaseModule):
    """Five convs alternating 1x1 (``out_channels``) and 3x3 (``2 * out_channels``)."""

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = _DEFAULT_NORM, act_cfg: Mapping = _DEFAULT_ACT,
                 init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        double = out_channels * 2
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels, out_channels, 1, **cfg)
        self.conv2 = ConvModule(out_channels, double, 3, padding=1, **cfg)
        self.conv3 = ConvModule(double, out_channels, 1, **cfg)
        self.conv4 = ConvModule(out_channels, double, 3, padding=1, **cfg)
        self.conv5 = ConvModule(double, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


@NECKS.register_module()
class YOLOV3Neck(BaseModule):
    """``in_channels`` / ``out_channels`` are listed coarse -> fine (e.g. [1024, 512, 256] / [512, 256, 128])."""

    def __init__(self, num_scales: int, in_channels: Sequence[int], out_channels: Sequence[int],
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = _DEFAULT_NORM, act_cfg: Mapping = _DEFAULT_ACT,
                 init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        if not num_scales == len(in_channels) == len(out_channels):
            raise ConfigError(f"YOLOV3Neck: num_scales={num_scales} but {len(in_channels)} in_channels and "
                              f"{len(out_channels)} out_channels")
        self.num_scales = num_scales
        self.in_channels = in_channels
        self.out_channels = out_channels
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.detect1 = DetectionBlock(in_channels[0], out_channels[0], **cfg)
        for i in range(1, num_scales):
            self.add_module(f"conv{i}", ConvModule(out_channels[i - 1], out_channels[i], 1, **cfg))
            self.add_module(f"detect{i + 1}", DetectionBlock(in_channels[i] + out_channels[i], out_channels[i], **cfg))

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(feats) != self.num_scales:
            raise ValueError(f"YOLOV3Neck expects {self.num_scales} feature maps, got {len(feats)}")
        out = self.detect1(feats[-1])
        outs = [out]
        for i, x in enumerate(reversed(feats[:-1])):
            up = F.interpolate(getattr(self, f"conv{i + 1}")(out), scale_factor=2)
            out = getattr(self, f"detect{i + 2}")(torch.cat((up, x), 1))
            outs.append(out)
        return tuple(outs)
