"""BFP, Libra R-CNN's balanced feature pyramid (https://arxiv.org/abs/1904.02701)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.models.layers.non_local import NonLocal2d
from detcli.registry import NECKS


@NECKS.register_module()
class BFP(BaseModule):
    """Every level brought to level ``refine_level``'s size (max-pooled or nearest-upsampled) and averaged,
    optionally refined (``refine_type`` 'conv' or 'non_local'), then resized back and added to each level."""

    def __init__(self, in_channels: int, num_levels: int, refine_level: int = 2, refine_type: str | None = None,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = None,
                 init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Xavier", layer="Conv2d",
                                                                     distribution="uniform")) -> None:
        super().__init__(init_cfg)
        if refine_type not in (None, "conv", "non_local"):
            raise ConfigError(f"BFP refine_type must be None, 'conv' or 'non_local', got {refine_type!r}")
        if not 0 <= refine_level < num_levels:
            raise ConfigError(f"BFP refine_level={refine_level} is not a level of num_levels={num_levels}")
        self.in_channels = in_channels
        self.num_levels = num_levels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.refine_level = refine_level
        self.refine_type = refine_type
        if refine_type == "conv":
            self.refine = ConvModule(in_channels, in_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        elif refine_type == "non_local":
            self.refine = NonLocal2d(in_channels, reduction=1, use_scale=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != self.num_levels:
            raise ValueError(f"BFP expects {self.num_levels} inputs, got {len(inputs)}")
        size = inputs[self.refine_level].shape[2:]
        gathered = [F.adaptive_max_pool2d(x, output_size=size) if i < self.refine_level
                    else F.interpolate(x, size=size, mode="nearest") for i, x in enumerate(inputs)]
        bsf = sum(gathered) / len(gathered)
        if self.refine_type is not None:
            bsf = self.refine(bsf)
        return tuple(
            x + (F.interpolate(bsf, size=x.shape[2:], mode="nearest") if i < self.refine_level
                 else F.adaptive_max_pool2d(bsf, output_size=x.shape[2:]))
            for i, x in enumerate(inputs))
