"""PAFPN (Path Aggregation Network, https://arxiv.org/abs/1803.01534): an FPN plus a bottom-up path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
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

    def _outputs(self, laterals: list[torch.Tensor]) -> list[torch.Tensor]:
        inter = super()._outputs(laterals)
        for i in range(len(inter) - 1):  # bottom-up path augmentation
            inter[i + 1] = inter[i + 1] + self.downsample_convs[i](inter[i])
        return [inter[0]] + [self.pafpn_convs[i - 1](inter[i]) for i in range(1, len(inter))]
