"""``ResLayer``: one ResNet stage, a ``Sequential`` of residual blocks.

Its first block changes resolution/width and carries the ``downsample`` shortcut
(``downsample.0`` conv, ``downsample.1`` norm; with ``avg_down`` an ``AvgPool2d`` comes
first and the indices shift by one).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from detcli.models.layers import Sequential, build_conv_layer, build_norm_layer


def make_downsample(inplanes: int, outplanes: int, stride: int, avg_down: bool, conv_cfg: Mapping | None,
                    norm_cfg: Mapping) -> nn.Sequential:
    layers: list[nn.Module] = []
    conv_stride = stride
    if avg_down:  # ResNet-D: pool, then a stride-1 projection (keeps all input pixels)
        conv_stride = 1
        layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False))
    layers.append(build_conv_layer(conv_cfg, inplanes, outplanes, kernel_size=1, stride=conv_stride, bias=False))
    layers.append(build_norm_layer(norm_cfg, outplanes)[1])
    return nn.Sequential(*layers)


class ResLayer(Sequential):
    """``num_blocks`` blocks of type ``block``; extra keyword arguments go to every block."""

    def __init__(self, block: type, inplanes: int, planes: int, num_blocks: int, stride: int = 1,
                 avg_down: bool = False, conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type="BN"),
                 downsample_first: bool = True, **kwargs) -> None:
        self.block = block
        outplanes = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != outplanes:
            downsample = make_downsample(inplanes, outplanes, stride, avg_down, conv_cfg, norm_cfg)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
        layers = []
        if downsample_first:
            layers.append(block(inplanes=inplanes, planes=planes, stride=stride, downsample=downsample, **common))
            layers.extend(block(inplanes=outplanes, planes=planes, stride=1, **common)
                          for _ in range(1, num_blocks))
        else:  # the resolution change comes last (hourglass-style stages)
            layers.extend(block(inplanes=inplanes, planes=inplanes, stride=1, **common)
                          for _ in range(num_blocks - 1))
            layers.append(block(inplanes=inplanes, planes=planes, stride=stride, downsample=downsample, **common))
        super().__init__(*layers)
