"""Res2Net (https://arxiv.org/abs/1904.01169): bottlenecks whose 3x3 conv is split into ``scales``
channel groups, each seeing the previous group's output (a multi-scale receptive field in one block)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from detcli.models.layers import Sequential, build_conv_layer, build_norm_layer
from detcli.registry import BACKBONES

from .res_layer import make_downsample
from .resnet import Bottleneck, ResNet, _conv2_cfg


class Bottle2neck(Bottleneck):
    """``conv1`` to ``scales * width`` channels; split; ``convs.i``/``bns.i`` (3x3) on split ``i`` plus the
    previous output (``stage_type='normal'``) or alone (``'stage'``, the first block of a stage, whose last
    split is average-pooled when the block strides); the last split passes through; concat; ``conv3``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, scales: int = 4, base_width: int = 26, base_channels: int = 64,
                 stage_type: str = "normal", **kwargs) -> None:
        super().__init__(inplanes, planes, **kwargs)
        if scales <= 1:
            raise ValueError("Res2Net needs scales > 1 (scales=1 is a plain ResNet)")
        width = int(math.floor(self.planes * (base_width / base_channels)))
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, width * scales, postfix=1)
        self.norm3_name, norm3 = build_norm_layer(self.norm_cfg, self.planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(self.conv_cfg, self.inplanes, width * scales, kernel_size=1,
                                      stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        if stage_type == "stage" and self.conv2_stride != 1:
            self.pool = nn.AvgPool2d(kernel_size=3, stride=self.conv2_stride, padding=1)
        conv_cfg = _conv2_cfg(self.dcn, self.conv_cfg)
        self.convs = nn.ModuleList(
            build_conv_layer(conv_cfg, width, width, kernel_size=3, stride=self.conv2_stride, padding=self.dilation,
                             dilation=self.dilation, bias=False)
            for _ in range(scales - 1))
        self.bns = nn.ModuleList(build_norm_layer(self.norm_cfg, width, postfix=i + 1)[1] for i in range(scales - 1))
        self.conv3 = build_conv_layer(self.conv_cfg, width * scales, self.planes * self.expansion, kernel_size=1,
                                      bias=False)
        self.add_module(self.norm3_name, norm3)
        self.stage_type = stage_type
        self.scales = scales
        self.width = width
        delattr(self, "conv2")
        delattr(self, self.norm2_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        spx = torch.split(out, self.width, 1)
        sp = self.relu(self.bns[0](self.convs[0](spx[0].contiguous())))
        outs = [sp]
        for i in range(1, self.scales - 1):
            sp = spx[i] if self.stage_type == "stage" else sp + spx[i]
            sp = self.relu(self.bns[i](self.convs[i](sp.contiguous())))
            outs.append(sp)
        last = spx[self.scales - 1]
        if self.stage_type == "stage" and self.conv2_stride != 1:
            last = self.pool(last)
        outs.append(last)
        return self.norm3(self.conv3(torch.cat(outs, 1)))


class Res2Layer(Sequential):
    """One Res2Net stage: the first block is a ``'stage'`` block with an average-pool + 1x1 shortcut."""

    def __init__(self, block: type, inplanes: int, planes: int, num_blocks: int, stride: int = 1,
                 avg_down: bool = True, conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type="BN"),
                 scales: int = 4, base_width: int = 26, **kwargs) -> None:
        self.block = block
        outplanes = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != outplanes:  # always pooled (a 1x1 pool when the stride is 1)
            downsample = make_downsample(inplanes, outplanes, stride, True, conv_cfg, norm_cfg)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, scales=scales, base_width=base_width, **kwargs)
        layers = [block(inplanes=inplanes, planes=planes, stride=stride, downsample=downsample, stage_type="stage",
                        **common)]
        layers += [block(inplanes=outplanes, planes=planes, stride=1, **common) for _ in range(1, num_blocks)]
        super().__init__(*layers)


@BACKBONES.register_module()
class Res2Net(ResNet):
    """E.g. Res2Net-101 26w x 4s: ``Res2Net(depth=101, scales=4, base_width=26)``; always the ResNet-D
    layout (deep stem, pooled shortcuts) in pytorch style, whatever ``style``/``deep_stem``/``avg_down`` say."""

    arch_settings = {
        50: (Bottle2neck, (3, 4, 6, 3)),
        101: (Bottle2neck, (3, 4, 23, 3)),
        152: (Bottle2neck, (3, 8, 36, 3)),
    }

    def __init__(self, scales: int = 4, base_width: int = 26, style: str = "pytorch", deep_stem: bool = True,
                 avg_down: bool = True, pretrained: str | None = None, init_cfg: Mapping | None = None,
                 **kwargs) -> None:
        self.scales = scales
        self.base_width = base_width
        super().__init__(style="pytorch", deep_stem=True, avg_down=True, pretrained=pretrained, init_cfg=init_cfg,
                         **kwargs)

    def make_res_layer(self, **kwargs) -> Res2Layer:
        return Res2Layer(scales=self.scales, base_width=self.base_width, base_channels=self.base_channels, **kwargs)
