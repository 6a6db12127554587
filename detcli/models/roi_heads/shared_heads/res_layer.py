"""A ResNet stage run on RoI features: the shared head of C4 detectors (Faster/Mask R-CNN R50-C4)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from detcli.errors import ConfigError
from detcli.models.backbones.res_layer import ResLayer as _Stage
from detcli.models.backbones.resnet import ResNet
from detcli.models.layers import BaseModule
from detcli.registry import SHARED_HEADS


@SHARED_HEADS.register_module()
class ResLayer(BaseModule):
    """Stage ``stage`` (0-based) of a ResNet-``depth``, state-dict name ``layer{stage + 1}``.

    The backbone stops one stage early and this stage runs per RoI instead, so the
    ImageNet weights of ``layer4`` load here from the same pretrained checkpoint.
    """

    def __init__(
        self,
        depth: int,
        stage: int = 3,
        stride: int = 2,
        dilation: int = 1,
        style: str = "pytorch",
        norm_cfg: Mapping = dict(type="BN", requires_grad=True),
        norm_eval: bool = True,
        with_cp: bool = False,
        dcn: Mapping | None = None,
        pretrained: str | None = None,
        init_cfg: Mapping | list | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if depth not in ResNet.arch_settings:
            raise ConfigError(f"ResLayer: invalid depth {depth}", hint=f"choose one of {sorted(ResNet.arch_settings)}")
        if init_cfg and pretrained:
            raise ConfigError("ResLayer: init_cfg and pretrained cannot both be set", hint="keep init_cfg only")
        self.norm_eval = norm_eval
        self.norm_cfg = norm_cfg
        self.stage = stage
        self.fp16_enabled = False
        block, stage_blocks = ResNet.arch_settings[depth]
        planes = 64 * 2**stage
        inplanes = 64 * 2 ** (stage - 1) * block.expansion
        layer = _Stage(
            block, inplanes, planes, stage_blocks[stage], stride=stride, dilation=dilation, style=style,
            with_cp=with_cp, norm_cfg=norm_cfg, dcn=dcn,
        )
        self.add_module(f"layer{stage + 1}", layer)
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is None and init_cfg is None:
            self.init_cfg = [
                dict(type="Kaiming", layer="Conv2d"),
                dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"]),
            ]

    def forward(self, x):
        return getattr(self, f"layer{self.stage + 1}")(x)

    def train(self, mode: bool = True) -> ResLayer:
        super().train(mode)
        if mode and self.norm_eval:  # frozen ImageNet statistics, as in the backbone
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self
