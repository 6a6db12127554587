"""Backbones."""

from .res_layer import ResLayer
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetV1d
from .regnet import RegNet
from .resnext import ResNeXt

__all__ = ["ResLayer", "BasicBlock", "Bottleneck", "ResNet", "ResNetV1d", "ResNeXt", "RegNet"]
