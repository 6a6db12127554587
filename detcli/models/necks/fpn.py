"""Feature Pyramid Network: top-down pathway + lateral 1x1 convs + 3x3 output convs.

Extra levels beyond the backbone's come from stride-2 3x3 convs on the last input
(``'on_input'``), lateral (``'on_lateral'``) or output (``'on_output'``) map, or from
max-pooling when ``add_extra_convs=False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import NECKS

EXTRA_SOURCES = ("on_input", "on_lateral", "on_output")


@NECKS.register_module()
class FPN(BaseModule):
    """Maps backbone features ``in_channels[start_level:end_level+1]`` to ``num_outs`` maps of ``out_channels``."""

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
        upsample_cfg: Mapping = dict(mode="nearest"),
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Xavier", layer="Conv2d", distribution="uniform"),
    ) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"FPN in_channels must be a list, got {in_channels!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        self.upsample_cfg = dict(upsample_cfg)
        if end_level in (-1, self.num_ins - 1):
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ConfigError(f"FPN num_outs={num_outs} is fewer than the {self.num_ins - start_level} "
                                  f"input levels used")
        else:
            self.backbone_end_level = end_level + 1
            if end_level >= self.num_ins or num_outs != end_level - start_level + 1:
                raise ConfigError(f"FPN end_level={end_level} does not fit {self.num_ins} inputs and "
                                  f"num_outs={num_outs}")
        self.start_level = start_level
        self.end_level = end_level
        if isinstance(add_extra_convs, str):
            if add_extra_convs not in EXTRA_SOURCES:
                raise ConfigError(f"FPN add_extra_convs={add_extra_convs!r} is not one of {EXTRA_SOURCES}")
        elif add_extra_convs:  # True
            add_extra_convs = "on_input"
        self.add_extra_convs = add_extra_convs

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(ConvModule(
                self.in_channels[i], out_channels, 1, conv_cfg=conv_cfg,
                norm_cfg=None if no_norm_on_lateral else norm_cfg, act_cfg=act_cfg, inplace=False))
            self.fpn_convs.append(ConvModule(
                out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                act_cfg=act_cfg, inplace=False))
        extra_levels = num_outs - self.backbone_end_level + start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                if i == 0 and self.add_extra_convs == "on_input":
                    channels = self.in_channels[self.backbone_end_level - 1]
                else:
                    channels = out_channels
                self.fpn_convs.append(ConvModule(
                    channels, out_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    act_cfg=act_cfg, inplace=False))

    def _upsample_to(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if "scale_factor" in self.upsample_cfg:
            return F.interpolate(x, **self.upsample_cfg)
        return F.interpolate(x, size=like.shape[2:], **self.upsample_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"{type(self).__name__} expects {len(self.in_channels)} inputs, got {len(inputs)}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        in_place = not torch.is_grad_enabled()  # the laterals are fresh conv outputs: no copy at inference
        for i in range(len(laterals) - 1, 0, -1):  # top-down: coarse maps are added into finer ones
            upsampled = self._upsample_to(laterals[i], laterals[i - 1])
            laterals[i - 1] = laterals[i - 1].add_(upsampled) if in_place else laterals[i - 1] + upsampled
        outs = self._outputs(laterals)
        used = len(laterals)
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

    def _outputs(self, laterals: list[torch.Tensor]) -> list[torch.Tensor]:
        """One output per used backbone level (the extra levels come after): the 3x3 ``fpn_convs``."""
        return [self.fpn_convs[i](lateral) for i, lateral in enumerate(laterals)]
