"""Building blocks shared by every model part: conv/norm/activation builders,
``ConvModule``, RoI layers, weight initialisation and ``BaseModule``."""

from .activation import Clamp, build_activation_layer
from .base_module import BaseModule, ModuleDict, ModuleList, Sequential
from .conv import build_conv_layer
from .conv_module import ConvModule
from .deform_conv import DeformConv2dPack, ModulatedDeformConv2dPack
from .deform_roi_pool import DeformRoIPool, DeformRoIPoolPack, ModulatedDeformRoIPoolPack
from .depthwise_separable_conv import DepthwiseSeparableConvModule
from .norm import build_norm_layer, infer_abbr, is_norm
from .padding import PADDING_LAYERS, build_padding_layer
from .pooling import MaxPool2d
from .roi_layers import RoIAlign, RoIPool
from .scale import Scale
from .upsample import PixelShufflePack, build_upsample_layer
from .weight_init import (
    INITIALIZERS,
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    initialize,
    kaiming_init,
    normal_init,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)

__all__ = [
    "Clamp", "build_activation_layer", "BaseModule", "ModuleDict", "ModuleList", "Sequential",
    "build_conv_layer", "ConvModule", "MaxPool2d", "DeformConv2dPack", "ModulatedDeformConv2dPack", "DeformRoIPool",
    "DeformRoIPoolPack", "ModulatedDeformRoIPoolPack", "DepthwiseSeparableConvModule", "Scale", "build_norm_layer",
    "infer_abbr", "is_norm", "PADDING_LAYERS",
    "build_padding_layer", "RoIAlign", "RoIPool", "PixelShufflePack", "build_upsample_layer",
    "INITIALIZERS", "bias_init_with_prob", "caffe2_xavier_init", "constant_init", "initialize",
    "kaiming_init", "normal_init", "trunc_normal_init", "uniform_init", "xavier_init",
]
