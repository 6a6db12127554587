"""Backbones."""

from .darknet import Darknet
from .mobilenet_v2 import MobileNetV2
from .regnet import RegNet
from .res_layer import ResLayer
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetV1d
from .resnext import ResNeXt
from .ssd_vgg import SSDVGG

__all__ = ["Darknet", "MobileNetV2", "RegNet", "ResLayer", "BasicBlock", "Bottleneck", "ResNet", "ResNetV1d",
           "ResNeXt", "SSDVGG"]
