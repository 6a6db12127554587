"""HRNet (https://arxiv.org/abs/1904.04514): parallel branches at 1/4 ... 1/32 resolution, fused repeatedly.

State-dict names follow mmdetection 2.x (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1``,
``transition1.1.0.0``, ``stage2.0.branches.0.0.conv1``, ``stage2.0.fuse_layers.0.1.0`` ...), so the
``open-mmlab://msra/hrnetv2_w*`` checkpoints and 2.x HRNet detectors load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, Sequential, build_conv_layer, build_norm_layer
from detcli.registry import BACKBONES

from .res_layer import make_downsample
from .resnet import BasicBlock, Bottleneck

BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


def _conv_norm(conv_cfg, norm_cfg, cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers = [build_conv_layer(conv_cfg, cin, cout, kernel_size=kernel, stride=stride, padding=kernel // 2,
                               bias=False),
              build_norm_layer(norm_cfg, cout)[1]]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


class HRModule(BaseModule):
    """One exchange unit: ``branches`` (residual blocks per resolution), then ``fuse_layers``.

    Output ``i`` is the ReLU of the sum over every branch ``j`` brought to resolution ``i``:
    coarser branches by a 1x1 conv + BN + nearest upsampling, finer ones by strided 3x3 convs.
    """

    def __init__(self, num_branches: int, blocks: type, num_blocks: Sequence[int], in_channels: Sequence[int],
                 num_channels: Sequence[int], multiscale_output: bool = True, with_cp: bool = False,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type="BN"),
                 block_init_cfg: Mapping | None = None, init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        for what, seq in (("num_blocks", num_blocks), ("num_channels", num_channels), ("in_channels", in_channels)):
            if len(seq) != num_branches:
                raise ConfigError(f"HRNet module: {what} {tuple(seq)} does not have num_branches={num_branches} "
                                  f"entries")
        self.num_branches = num_branches
        self.multiscale_output = multiscale_output
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.block_init_cfg = block_init_cfg
        self.in_channels = list(in_channels)
        self.branches = nn.ModuleList(
            self._make_branch(i, blocks, num_blocks[i], num_channels[i]) for i in range(num_branches))
        self.fuse_layers = self._make_fuse_layers()
        self.relu = nn.ReLU(inplace=False)

    def _make_branch(self, index: int, block: type, num_blocks: int, channels: int) -> Sequential:
        inplanes, outplanes = self.in_channels[index], channels * block.expansion
        downsample = None
        if inplanes != outplanes:
            downsample = make_downsample(inplanes, outplanes, 1, False, self.conv_cfg, self.norm_cfg)
        common = dict(with_cp=self.with_cp, norm_cfg=self.norm_cfg, conv_cfg=self.conv_cfg,
                      init_cfg=self.block_init_cfg)
        layers = [block(inplanes, channels, 1, downsample=downsample, **common)]
        layers += [block(outplanes, channels, **common) for _ in range(1, num_blocks)]
        self.in_channels[index] = outplanes
        return Sequential(*layers)

    def _make_fuse_layers(self) -> nn.ModuleList | None:
        if self.num_branches == 1:
            return None
        ch = self.in_channels
        fuse_layers = nn.ModuleList()
        for i in range(self.num_branches if self.multiscale_output else 1):
            row = nn.ModuleList()
            for j in range(self.num_branches):
                if j > i:  # coarser: project, then upsample
                    row.append(nn.Sequential(
                        build_conv_layer(self.conv_cfg, ch[j], ch[i], kernel_size=1, stride=1, padding=0, bias=False),
                        build_norm_layer(self.norm_cfg, ch[i])[1],
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:  # finer: i - j stride-2 convs, the last one changing the width (and without ReLU)
                    steps = [_conv_norm(self.conv_cfg, self.norm_cfg, ch[j], ch[j], 3, 2, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(_conv_norm(self.conv_cfg, self.norm_cfg, ch[j], ch[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(row)
        return fuse_layers

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(feat) for branch, feat in zip(self.branches, x)]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else row[j](x[j]))
            fused.append(self.relu(y))
        return fused


@BACKBONES.register_module()
class HRNet(BaseModule):
    """``extra`` holds ``stage1`` ... ``stage4``, each with ``num_modules``, ``num_branches``, ``block``
    (``'BASIC'``/``'BOTTLENECK'``), ``num_blocks`` and ``num_channels`` per branch.

    Returns the last stage's branches, finest first (4 maps at strides 4, 8, 16, 32);
    ``multiscale_output=False`` keeps only the finest.
    """

    blocks_dict = BLOCKS

    def __init__(self, extra: Mapping, in_channels: int = 3, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type="BN"), norm_eval: bool = True, with_cp: bool = False,
                 zero_init_residual: bool = False, multiscale_output: bool = True, pretrained: str | None = None,
                 init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__(init_cfg)
        if init_cfg and pretrained:
            raise ConfigError("HRNet: init_cfg and pretrained cannot be set at the same time",
                              hint="use init_cfg=dict(type='Pretrained', checkpoint=...)")
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is not None:
            raise ConfigError(f"HRNet: pretrained must be a checkpoint path/URL or None, got {pretrained!r}")
        elif init_cfg is None:
            self.init_cfg = [dict(type="Kaiming", layer="Conv2d"),
                             dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]
        for i in range(1, 5):
            stage = extra.get(f"stage{i}")
            if stage is None:
                raise ConfigError(f"HRNet extra has no 'stage{i}'", hint="give stage1 ... stage4 (see hrnet configs)")
            if not len(stage["num_blocks"]) == len(stage["num_channels"]) == stage["num_branches"]:
                raise ConfigError(f"HRNet stage{i}: num_blocks and num_channels need num_branches="
                                  f"{stage['num_branches']} entries")
            if stage["block"] not in BLOCKS:
                raise ConfigError(f"HRNet stage{i}: unknown block {stage['block']!r}", hint="use 'BASIC' or 'BOTTLENECK'")
        self.pretrained = pretrained
        self.extra = extra
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        # a 2.x quirk kept for equal initialisation: zero_init_residual never took effect in HRNet
        self.zero_init_residual = zero_init_residual

        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, 64, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, 64, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        self.stage1_cfg = extra["stage1"]
        block = BLOCKS[self.stage1_cfg["block"]]
        planes = self.stage1_cfg["num_channels"][0]
        self.layer1 = self._make_layer(block, 64, planes, self.stage1_cfg["num_blocks"][0])
        channels = [planes * block.expansion]
        for i in (2, 3, 4):
            stage_cfg = extra[f"stage{i}"]
            setattr(self, f"stage{i}_cfg", stage_cfg)
            expansion = BLOCKS[stage_cfg["block"]].expansion
            wanted = [c * expansion for c in stage_cfg["num_channels"]]
            setattr(self, f"transition{i - 1}", self._make_transition_layer(channels, wanted))
            stage, channels = self._make_stage(stage_cfg, wanted, multiscale_output if i == 4 else True)
            setattr(self, f"stage{i}", stage)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _make_transition_layer(self, pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
        """Existing branches change width if needed; each new branch comes from the coarsest by strided convs."""
        layers = nn.ModuleList()
        for i, channels in enumerate(cur):
            if i < len(pre):
                layers.append(None if channels == pre[i] else nn.Sequential(
                    build_conv_layer(self.conv_cfg, pre[i], channels, kernel_size=3, stride=1, padding=1, bias=False),
                    build_norm_layer(self.norm_cfg, channels)[1], nn.ReLU(inplace=True)))
                continue
            steps = []
            for j in range(i + 1 - len(pre)):
                cin = pre[-1]
                cout = channels if j == i - len(pre) else cin
                steps.append(nn.Sequential(
                    build_conv_layer(self.conv_cfg, cin, cout, kernel_size=3, stride=2, padding=1, bias=False),
                    build_norm_layer(self.norm_cfg, cout)[1], nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*steps))
        return layers

    def _make_layer(self, block: type, inplanes: int, planes: int, num_blocks: int) -> Sequential:
        downsample = None
        if inplanes != planes * block.expansion:
            downsample = make_downsample(inplanes, planes * block.expansion, 1, False, self.conv_cfg, self.norm_cfg)
        common = dict(with_cp=self.with_cp, norm_cfg=self.norm_cfg, conv_cfg=self.conv_cfg)
        layers = [block(inplanes, planes, 1, downsample=downsample, **common)]
        layers += [block(planes * block.expansion, planes, **common) for _ in range(1, num_blocks)]
        return Sequential(*layers)

    def _make_stage(self, cfg: Mapping, in_channels: Sequence[int], multiscale_output: bool = True):
        block = BLOCKS[cfg["block"]]
        modules = []
        channels = list(in_channels)
        for i in range(cfg["num_modules"]):
            module = HRModule(cfg["num_branches"], block, cfg["num_blocks"], channels, cfg["num_channels"],
                              multiscale_output or i < cfg["num_modules"] - 1, with_cp=self.with_cp,
                              norm_cfg=self.norm_cfg, conv_cfg=self.conv_cfg)
            channels = module.in_channels
            modules.append(module)
        return Sequential(*modules), channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        feats = [self.layer1(x)]
        for i in (2, 3, 4):
            transition = getattr(self, f"transition{i - 1}")
            num_branches = getattr(self, f"stage{i}_cfg")["num_branches"]
            inputs = []
            for b in range(num_branches):
                if transition[b] is None:
                    inputs.append(feats[b])
                else:  # a new branch grows from the coarsest existing one
                    inputs.append(transition[b](feats[-1] if b >= len(feats) else feats[b]))
            feats = getattr(self, f"stage{i}")(inputs)
        return feats

    def train(self, mode: bool = True) -> HRNet:
        super().train(mode)
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
