"""The guide's new backbone (section 七.1): a MobileNet (v1) that returns a tuple of feature maps.

Registered under its class name; a config imports this module with
``custom_imports = dict(imports=['my_mobilenet'])`` and uses ``backbone=dict(type='MobileNet', ...)``.
"""

import torch.nn as nn

from detcli.engine import load_checkpoint
from detcli.models.builder import BACKBONES
from detcli.models.layers import ConvModule, constant_init, kaiming_init

# (output channels, stride of the first block, blocks) of each stage after the stem;
# stage i ends at stride 2 ** (i + 1): 2, 4, 8, 16, 32
ARCH = [(64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 2, 6), (1024, 2, 2)]


class DepthwiseSeparable(nn.Sequential):
    """A 3x3 depth-wise conv (one filter per channel) followed by a 1x1 conv mixing the channels."""

    def __init__(self, in_channels, out_channels, stride, norm_cfg):
        super().__init__(
            ConvModule(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels,
                       norm_cfg=norm_cfg),
            ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg))


@BACKBONES.register_module()
class MobileNet(nn.Module):
    """MobileNet v1: ``widen_factor`` scales every width; ``out_indices`` picks the stages whose
    outputs are returned (1..4 are strides 4..32); ``frozen_stages`` stops training the stem and the
    first stages."""

    def __init__(self, widen_factor=1.0, out_indices=(1, 2, 3, 4), frozen_stages=-1, norm_cfg=None,
                 norm_eval=False):
        super().__init__()
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        channels = int(32 * widen_factor)
        self.stem = ConvModule(3, channels, 3, stride=2, padding=1, norm_cfg=norm_cfg)
        self.stages = nn.ModuleList()
        self.out_channels = []
        for width, stride, blocks in ARCH:
            width = int(width * widen_factor)
            layers = []
            for i in range(blocks):
                layers.append(DepthwiseSeparable(channels, width, stride if i == 0 else 1, norm_cfg))
                channels = width
            self.stages.append(nn.Sequential(*layers))
            self.out_channels.append(width)
        self._freeze_stages()

    def forward(self, x):  # should return a tuple
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self, pretrained=None):
        if isinstance(pretrained, str):
            load_checkpoint(self, pretrained, strict=False)
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, nn.BatchNorm2d):
                constant_init(m, 1)

    def _freeze_stages(self):
        frozen = [self.stem, *self.stages[:max(self.frozen_stages, 0)]] if self.frozen_stages >= 0 else []
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self
