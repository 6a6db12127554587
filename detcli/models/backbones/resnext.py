"""ResNeXt: ResNet with grouped 3x3 convolutions (``groups`` x ``base_width`` channels)."""

from __future__ import annotations

from detcli.errors import ConfigError
from detcli.registry import BACKBONES

from .res_layer import ResLayer
from .resnet import Bottleneck, ResNet


@BACKBONES.register_module()
class ResNeXt(ResNet):
    """E.g. ResNeXt-101 32x4d: ``ResNeXt(depth=101, groups=32, base_width=4)``."""

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, **kwargs) -> None:
        if groups < 1:
            raise ConfigError(f"ResNeXt groups must be >= 1, got {groups}")
        self.groups = groups
        self.base_width = base_width
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        return ResLayer(groups=self.groups, base_width=self.base_width, base_channels=self.base_channels, **kwargs)


__all__ = ["ResNeXt", "Bottleneck"]
