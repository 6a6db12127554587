"""HRFPN (https://arxiv.org/abs/1904.04514): HRNet's branches concatenated at full resolution, then pooled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import NECKS


@NECKS.register_module()
class HRFPN(BaseModule):
    """Every branch upsampled (bilinear) to the finest and concatenated -> ``reduction_conv`` (1x1) -> pooled
    by 1, 2, 4, ... (``pooling_type`` 'AVG' or 'MAX') -> one ``fpn_convs`` (3x3) per output level.

    As in mmdetection 2.x the convs have no activation and ``norm_cfg`` is not applied.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int = 5,
        pooling_type: str = "AVG",
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        with_cp: bool = False,
        stride: int = 1,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Caffe2Xavier", layer="Conv2d"),
    ) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"HRFPN in_channels must be a list, got {in_channels!r}")
        if pooling_type not in ("AVG", "MAX"):
            raise ConfigError(f"HRFPN pooling_type must be 'AVG' or 'MAX', got {pooling_type!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.reduction_conv = ConvModule(sum(in_channels), out_channels, kernel_size=1, conv_cfg=conv_cfg,
                                         act_cfg=None)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, kernel_size=3, padding=1, stride=stride, conv_cfg=conv_cfg,
                       act_cfg=None)
            for _ in range(num_outs))
        self.pooling = F.max_pool2d if pooling_type == "MAX" else F.avg_pool2d

    def _run(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(layer, x, use_reentrant=False)
        return layer(x)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != self.num_ins:
            raise ValueError(f"HRFPN expects {self.num_ins} inputs, got {len(inputs)}")
        ups = [inputs[0]] + [F.interpolate(inputs[i], scale_factor=2**i, mode="bilinear", align_corners=False)
                             for i in range(1, self.num_ins)]
        out = self._run(self.reduction_conv, torch.cat(ups, dim=1))
        pooled = [out] + [self.pooling(out, kernel_size=2**i, stride=2**i) for i in range(1, self.num_outs)]
        return tuple(self._run(conv, x) for conv, x in zip(self.fpn_convs, pooled))
