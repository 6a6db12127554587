"""Fold each BatchNorm into the convolution right before it (``det test --fuse-conv-bn``).

Inference gets faster and the outputs stay the same up to float rounding. A BN is
folded into the conv registered just before it in the same parent module, which is
how ConvModule, ResNet blocks and downsample branches lay their layers out.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fuse conv + BN pairs in place (the module must be in eval mode); returns ``module``."""
    last_conv: tuple[str, nn.Conv2d] | None = None
    for name, child in list(module.named_children()):
        if isinstance(child, _BatchNorm) and last_conv is not None:
            conv_name, conv = last_conv
            if child.track_running_stats and child.num_features == conv.out_channels:
                setattr(module, conv_name, fuse_conv_bn_eval(conv.eval(), child.eval()))
                setattr(module, name, nn.Identity())
            last_conv = None
        elif isinstance(child, nn.Conv2d):
            last_conv = (name, child)
        else:
            fuse_conv_bn(child)
    return module
