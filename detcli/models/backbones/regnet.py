"""RegNetX backbones (Radosavovic et al., "Designing Network Design Spaces", 2020).

A RegNet is a ResNeXt whose stage widths follow a quantized linear rule: block ``j`` of
``depth`` blocks would have width ``w0 + wa * j``; widths are snapped to ``w0 * wm**k``
and to multiples of 8, and runs of equal width form the stages. Blocks are ResNeXt
bottlenecks without expansion (``group_w`` channels per group) and the stem is one 3x3
stride-2 convolution without max pooling. Module names (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer1.0.downsample.0``...) and the width arithmetic follow
mmdetection 2.x, so its RegNet checkpoints (and pycls weights converted by
``det convert regnet``) load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, build_conv_layer, build_norm_layer
from detcli.registry import BACKBONES

from .resnet import Bottleneck, ResNet, _reject_plugins


class RegNetBottleneck(Bottleneck):
    """A ResNeXt bottleneck whose output has ``planes`` channels (no 4x expansion)."""

    expansion = 1


def regnet_block_widths(w0: int, wa: float, wm: float, depth: int, divisor: int = 8) -> tuple[list[int], int]:
    """Per-block widths of the quantized linear rule and the number of distinct widths (stages)."""
    if wa < 0 or w0 <= 0 or wm <= 1 or w0 % divisor:
        raise ConfigError(f"RegNet arch needs wa >= 0, w0 > 0 divisible by {divisor} and wm > 1; "
                          f"got w0={w0}, wa={wa}, wm={wm}")
    continuous = np.arange(depth) * wa + w0
    exponents = np.round(np.log(continuous / w0) / np.log(wm))
    widths = np.round(np.divide(w0 * np.power(wm, exponents), divisor)) * divisor
    return widths.astype(int).tolist(), len(np.unique(widths))


def stages_from_blocks(widths: list[int]) -> tuple[list[int], list[int]]:
    """Runs of equal block width: ``(width of each stage, blocks in each stage)``."""
    stage_widths: list[int] = []
    stage_blocks: list[int] = []
    for width in widths:
        if stage_widths and stage_widths[-1] == width:
            stage_blocks[-1] += 1
        else:
            stage_widths.append(width)
            stage_blocks.append(1)
    return stage_widths, stage_blocks


def adjust_width_group(widths: list[int], bottleneck_ratio: list[float], groups: list[int]
                       ) -> tuple[list[int], list[int]]:
    """Make each stage's bottleneck width a multiple of its group width (groups capped by the width)."""
    bottleneck = [int(w * b) for w, b in zip(widths, bottleneck_ratio)]
    groups = [min(g, wb) for g, wb in zip(groups, bottleneck)]
    bottleneck = [int(round(wb / g) * g) for wb, g in zip(bottleneck, groups)]
    return [int(wb / b) for wb, b in zip(bottleneck, bottleneck_ratio)], groups


@BACKBONES.register_module()
class RegNet(ResNet):
    """``RegNet(arch='regnetx_3.2gf', out_indices=(0, 1, 2, 3))`` or a dict arch
    ``dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0)``."""

    arch_settings = {
        "regnetx_400mf": dict(w0=24, wa=24.48, wm=2.54, group_w=16, depth=22, bot_mul=1.0),
        "regnetx_800mf": dict(w0=56, wa=35.73, wm=2.28, group_w=16, depth=16, bot_mul=1.0),
        "regnetx_1.6gf": dict(w0=80, wa=34.01, wm=2.25, group_w=24, depth=18, bot_mul=1.0),
        "regnetx_3.2gf": dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0),
        "regnetx_4.0gf": dict(w0=96, wa=38.65, wm=2.43, group_w=40, depth=23, bot_mul=1.0),
        "regnetx_6.4gf": dict(w0=184, wa=60.83, wm=2.07, group_w=56, depth=17, bot_mul=1.0),
        "regnetx_8.0gf": dict(w0=80, wa=49.56, wm=2.88, group_w=120, depth=23, bot_mul=1.0),
        "regnetx_12gf": dict(w0=168, wa=73.36, wm=2.37, group_w=112, depth=19, bot_mul=1.0),
    }

    def __init__(
        self,
        arch: str | Mapping,
        in_channels: int = 3,
        stem_channels: int = 32,
        base_channels: int = 32,
        strides: Sequence[int] = (2, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping = dict(type="BN", requires_grad=True),
        norm_eval: bool = True,
        dcn: Mapping | None = None,
        stage_with_dcn: Sequence[bool] = (False, False, False, False),
        plugins: Sequence | None = None,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = None,
    ) -> None:
        BaseModule.__init__(self, init_cfg)  # ResNet's own setup is by depth; a RegNet is built by arch
        arch = self._arch_params(arch)
        if deep_stem:
            raise ConfigError("RegNet has a single 3x3 stem convolution; deep_stem=True is not available")
        if init_cfg and pretrained:
            raise ConfigError("backbone: init_cfg and pretrained cannot be set at the same time",
                              hint="use init_cfg=dict(type='Pretrained', checkpoint=...)")
        _reject_plugins(plugins)  # dcn goes to the blocks of the stages in stage_with_dcn

        widths, num_stages = regnet_block_widths(arch["w0"], arch["wa"], arch["wm"], arch["depth"])
        stage_widths, stage_blocks = stages_from_blocks(widths)
        self.bottleneck_ratio = [arch["bot_mul"]] * num_stages
        stage_widths, group_widths = adjust_width_group(stage_widths, self.bottleneck_ratio,
                                                        [arch["group_w"]] * num_stages)
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"RegNet arch {dict(arch)} gives {num_stages} stages; a backbone has 1 to 4")
        if not len(strides) == len(dilations) == num_stages:
            raise ConfigError(f"RegNet arch has {num_stages} stages: give {num_stages} strides and dilations, "
                              f"got {tuple(strides)} and {tuple(dilations)}")
        if max(out_indices) >= num_stages:
            raise ConfigError(f"RegNet out_indices {tuple(out_indices)} exceed its {num_stages} stages")

        self.stage_widths = stage_widths
        self.group_widths = group_widths
        self.depth = sum(stage_blocks)
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.dilations = dilations
        self.out_indices = out_indices
        self.style = style
        self.deep_stem = False
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        self.norm_eval = norm_eval
        self.dcn = dcn
        self.stage_with_dcn = stage_with_dcn
        self.plugins = plugins
        self.zero_init_residual = zero_init_residual
        self.block = RegNetBottleneck
        self.stage_blocks = stage_blocks[:num_stages]

        block_init_cfg = None
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is not None:
            raise ConfigError(f"pretrained must be a checkpoint path/URL or None, got {pretrained!r}")
        elif init_cfg is None:
            self.init_cfg = [dict(type="Kaiming", layer="Conv2d"),
                             dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]
            if zero_init_residual:
                block_init_cfg = dict(type="Constant", val=0, override=dict(name="norm3"))

        self._make_stem_layer(in_channels, stem_channels)
        self.inplanes = stem_channels
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            group_width = group_widths[i]
            width = int(round(stage_widths[i] * self.bottleneck_ratio[i]))
            res_layer = self.make_res_layer(
                block=self.block, inplanes=self.inplanes, planes=stage_widths[i], num_blocks=num_blocks,
                stride=strides[i], dilation=dilations[i], style=style, avg_down=avg_down, with_cp=with_cp,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, dcn=dcn if stage_with_dcn[i] else None,
                groups=width // group_width, base_width=group_width, base_channels=stage_widths[i],
                init_cfg=block_init_cfg)
            self.inplanes = stage_widths[i]
            name = f"layer{i + 1}"
            self.add_module(name, res_layer)
            self.res_layers.append(name)
        self._freeze_stages()
        self.feat_dim = stage_widths[-1]

    def _arch_params(self, arch: str | Mapping) -> Mapping:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f"unknown RegNet arch {arch!r}", hint=f"choose one of {sorted(self.arch_settings)} "
                                  "or give a dict(w0=, wa=, wm=, group_w=, depth=, bot_mul=)")
            return self.arch_settings[arch]
        if not isinstance(arch, Mapping):
            raise ConfigError(f"RegNet arch must be a name or a dict, got {type(arch).__name__}")
        missing = [k for k in ("w0", "wa", "wm", "group_w", "depth", "bot_mul") if k not in arch]
        if missing:
            raise ConfigError(f"RegNet arch dict lacks {', '.join(missing)}",
                              hint="e.g. dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0)")
        return arch

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, kernel_size=3, stride=2,
                                      padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.relu(self.norm1(self.conv1(x)))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
