"""ResNet backbones (depth 18-152, pytorch/caffe style, ResNet-D variants).

Module names match mmdetection 2.x and torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0``...), so both kinds of checkpoints load without renaming.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, MaxPool2d, build_conv_layer, build_norm_layer
from detcli.registry import BACKBONES

from .res_layer import ResLayer


def _reject_plugins(plugins: Sequence | None) -> None:
    if plugins:
        raise ConfigError("ResNet: plugins are not supported", hint="remove 'plugins' from the backbone config")


def _conv2_cfg(dcn: Mapping | None, conv_cfg: Mapping | None) -> Mapping | None:
    """The conv cfg of a bottleneck's 3x3 conv: the ``dcn`` cfg (minus its own keys) when one is given."""
    if dcn is None:
        return conv_cfg
    dcn = dict(dcn)
    if dcn.pop("fallback_on_stride", False):
        return conv_cfg
    if conv_cfg is not None:
        raise ConfigError(f"ResNet: conv_cfg={dict(conv_cfg)} cannot be combined with dcn",
                          hint="use conv_cfg=None with dcn=dict(type='DCN', ...)")
    return dcn


class _ResidualBlock(BaseModule):
    """Shared forward logic: residual branch + shortcut, optionally gradient-checkpointed."""

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self._residual(x)
            out += identity  # in place: the branch ends in a fresh norm output; saves a copy per block
            return out

        if self.with_cp and x.requires_grad:  # trade compute for memory
            out = cp.checkpoint(inner, x, use_reentrant=False)
        else:
            out = inner(x)
        return self.relu(out)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch", with_cp: bool = False,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type="BN"),
                 dcn: Mapping | None = None, plugins: Sequence | None = None,
                 init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        if dcn is not None:
            raise ConfigError("ResNet: deformable convolution needs Bottleneck blocks (depth 50 or more)",
                              hint="remove 'dcn' or use depth=50/101/152")
        _reject_plugins(plugins)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation,
                                      dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation
        self.with_cp = with_cp

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(out))


class Bottleneck(_ResidualBlock):
    """1x1 -> 3x3 -> 1x1 (ResNet-50+); ``groups > 1`` makes it a ResNeXt block.

    ``style='pytorch'`` puts the stride on the 3x3 conv, ``'caffe'`` on the first 1x1.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch", with_cp: bool = False,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type="BN"),
                 dcn: Mapping | None = None, plugins: Sequence | None = None, init_cfg: Mapping | None = None,
                 groups: int = 1, base_width: int = 4, base_channels: int = 64) -> None:
        super().__init__(init_cfg)
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"ResNet style must be 'pytorch' or 'caffe', got {style!r}")
        _reject_plugins(plugins)
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.dcn = dcn
        self.with_dcn = dcn is not None
        self.with_plugins = False
        self.conv1_stride, self.conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width = planes if groups == 1 else math.floor(planes * (base_width / base_channels)) * groups

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, kernel_size=1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(_conv2_cfg(dcn, conv_cfg), width, width, kernel_size=3,
                                      stride=self.conv2_stride, padding=dilation, dilation=dilation, groups=groups, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, kernel_size=1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        return self.norm3(self.conv3(out))


@BACKBONES.register_module()
class ResNet(BaseModule):
    """ResNet returning the feature maps of the stages in ``out_indices``.

    ``frozen_stages=k`` freezes the stem and stages 1..k; ``norm_eval`` keeps every
    BatchNorm in eval mode while training (tiny batches give bad statistics).
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        stem_channels: int | None = None,
        base_channels: int = 64,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
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
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise ConfigError(f"invalid depth {depth} for {type(self).__name__}",
                              hint=f"choose one of {sorted(self.arch_settings)}")
        if init_cfg and pretrained:
            raise ConfigError("backbone: init_cfg and pretrained cannot be set at the same time",
                              hint="use init_cfg=dict(type='Pretrained', checkpoint=...)")
        _reject_plugins(plugins)
        if dcn is not None and len(stage_with_dcn) != num_stages:
            raise ConfigError(f"ResNet stage_with_dcn {tuple(stage_with_dcn)} needs one entry per stage "
                              f"(num_stages={num_stages})")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"ResNet num_stages must be 1..4, got {num_stages}")
        if not len(strides) == len(dilations) == num_stages:
            raise ConfigError(f"ResNet needs {num_stages} strides and dilations, got {strides} and {dilations}")
        if max(out_indices) >= num_stages:
            raise ConfigError(f"ResNet out_indices {tuple(out_indices)} exceed num_stages={num_stages}")

        self.zero_init_residual = zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        block_init_cfg = None
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is not None:
            raise ConfigError(f"pretrained must be a checkpoint path/URL or None, got {pretrained!r}")
        elif init_cfg is None:
            self.init_cfg = [dict(type="Kaiming", layer="Conv2d"),
                             dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]
            if zero_init_residual:  # each block starts as the identity
                last_norm = "norm2" if self.block is BasicBlock else "norm3"
                block_init_cfg = dict(type="Constant", val=0, override=dict(name=last_norm))

        self.depth = depth
        self.stem_channels = base_channels if stem_channels is None else stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.dilations = dilations
        self.out_indices = out_indices
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        self.norm_eval = norm_eval
        self.dcn = dcn
        self.stage_with_dcn = stage_with_dcn
        self.plugins = plugins
        self.stage_blocks = stage_blocks[:num_stages]
        self.inplanes = self.stem_channels

        self._make_stem_layer(in_channels, self.stem_channels)
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            res_layer = self.make_res_layer(
                block=self.block, inplanes=self.inplanes, planes=planes, num_blocks=num_blocks,
                stride=strides[i], dilation=dilations[i], style=style, avg_down=avg_down, with_cp=with_cp,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, dcn=dcn if dcn is not None and stage_with_dcn[i] else None,
                init_cfg=block_init_cfg)
            self.inplanes = planes * self.block.expansion
            name = f"layer{i + 1}"
            self.add_module(name, res_layer)
            self.res_layers.append(name)
        self._freeze_stages()
        self.feat_dim = self.block.expansion * base_channels * 2 ** (len(self.stage_blocks) - 1)

    def output_channels(self) -> list[int]:
        """Channels of the feature maps ``forward`` returns (one per ``out_indices`` entry).

        Read off the built stages (the output convolution of each stage's last block: ``conv3`` of a
        bottleneck, ``conv2`` of a basic block), so that subclasses with other stage widths (RegNet,
        ResNeSt, Res2Net...) need no formula of their own.
        """
        widths = []
        for name in self.res_layers:
            block = getattr(self, name)[-1]
            last = next((getattr(block, name) for name in ("conv3", "conv2") if getattr(block, name, None) is not None),
                        None)
            if last is None:  # a block of another layout: the last convolution it registers
                last = [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1]
            widths.append(last.out_channels)
        return [widths[i] for i in self.out_indices]

    def make_res_layer(self, **kwargs) -> ResLayer:
        return ResLayer(**kwargs)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:  # three 3x3 convs instead of one 7x7 (ResNet-C)
            half = stem_channels // 2
            self.stem = nn.Sequential(
                build_conv_layer(self.conv_cfg, in_channels, half, kernel_size=3, stride=2, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, half, half, kernel_size=3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, half, stem_channels, kernel_size=3, stride=1, padding=1,
                                 bias=False),
                build_norm_layer(self.norm_cfg, stem_channels)[1],
                nn.ReLU(inplace=True),
            )
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, kernel_size=7, stride=2,
                                          padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
            for module in stem:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            layer = getattr(self, f"layer{i}")
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self


@BACKBONES.register_module()
class ResNetV1d(ResNet):
    """ResNet-D: deep 3x3 stem and average-pool downsampling shortcuts."""

    def __init__(self, **kwargs) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
