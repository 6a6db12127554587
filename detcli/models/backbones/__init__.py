"""Backbones."""

from .regnet import RegNet
from .res_layer import ResLayer
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetV1d
from .resnext import ResNeXt

__all__ = ["ResLayer", "BasicBlock", "Bottleneck", "ResNet", "ResNetV1d", "ResNeXt", "RegNet"]
