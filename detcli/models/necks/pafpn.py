"""PAFPN (Path Aggregation Network, https://arxiv.org/abs/1803.01534): an FPN plus a bottom-up path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.models.layers import ConvModule
from detcli.registry import NECKS

from .fpn import FPN


@NECKS.register_module()
class PAFPN(FPN):
    """FPN outputs ``N_i``, then ``N_{i+1} += downsample_convs[i](N_i)`` bottom-up and ``pafpn_convs``
    (3x3) on every level but the finest. Arguments as ``FPN``'s (the top-down path always upsamples
    with nearest neighbours to the finer level's size)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        act_cfg: Mapping | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Xavier", layer="Conv2d", distribution="uniform"),
    ) -> None:
        super().__init__(in_channels, out_channels, num_outs, start_level, end_level, add_extra_convs,
                         relu_before_extra_convs, no_norm_on_lateral, conv_cfg, norm_cfg, act_cfg,
                         init_cfg=init_cfg)
        levels = range(self.start_level + 1, self.backbone_end_level)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        self.downsample_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, stride=2, padding=1, **common) for _ in levels)
        self.pafpn_convs = nn.ModuleList(ConvModule(out_channels, out_channels, 3, padding=1, **common) for _ in levels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"PAFPN expects {len(self.in_channels)} inputs, got {len(inputs)}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        used = len(laterals)
        for i in range(used - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                                              mode="nearest")
        inter = [self.fpn_convs[i](laterals[i]) for i in range(used)]
        for i in range(used - 1):  # bottom-up path augmentation
            inter[i + 1] = inter[i + 1] + self.downsample_convs[i](inter[i])
        outs = [inter[0]] + [self.pafpn_convs[i - 1](inter[i]) for i in range(1, used)]
        if self.num_outs > used:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                source = {"on_input": inputs[self.backbone_end_level - 1], "on_lateral": laterals[-1],
                          "on_output": outs[-1]}[self.add_extra_convs]
                outs.append(self.fpn_convs[used](source))
                for i in range(used + 1, self.num_outs):
                    prev = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](prev))
        return tuple(outs)
