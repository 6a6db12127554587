"""Backbones."""

from .hrnet import HRNet
from .res2net import Res2Net
from .res_layer import ResLayer
from .resnest import ResNeSt
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetV1d
from .resnext import ResNeXt

__all__ = ["ResLayer", "BasicBlock", "Bottleneck", "ResNet", "ResNetV1d", "ResNeXt", "HRNet", "ResNeSt", "Res2Net"]
