"""Fold each BatchNorm into the convolution right before it (done by default for inference).

Inference gets faster and the outputs stay the same up to float rounding. A BN is
folded into the plain ``nn.Conv2d`` registered just before it in the same parent module,
which is how ConvModule, ResNet blocks and downsample branches lay their layers out.
Convolutions of another class (weight-standardised, deformable ...) or with a weight
computed by a hook (spectral norm) are left alone, as are ConvModules that normalise before the
convolution.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.nn.utils.parametrize import is_parametrized


def _norm_comes_first(module: nn.Module) -> bool:
    order = getattr(module, "order", None)
    return isinstance(order, tuple) and "norm" in order and "conv" in order and order.index("norm") < order.index("conv")


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fuse conv + BN pairs in place (the module must be in eval mode); returns ``module``."""
    if _norm_comes_first(module):
        return module
    last_conv: tuple[str, nn.Conv2d] | None = None
    for name, child in list(module.named_children()):
        if isinstance(child, _BatchNorm) and last_conv is not None:
            conv_name, conv = last_conv
            if child.track_running_stats and child.running_mean is not None \
                    and child.num_features == conv.out_channels:
                setattr(module, conv_name, fuse_conv_bn_eval(conv.eval(), child.eval()))
                setattr(module, name, nn.Identity())
            last_conv = None
        elif type(child) is nn.Conv2d and not child._forward_pre_hooks and not is_parametrized(child):
            last_conv = (name, child)
        else:
            last_conv = None
            fuse_conv_bn(child)
    return module
