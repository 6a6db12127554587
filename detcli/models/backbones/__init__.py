"""Backbones."""

from .darknet import Darknet
from .hrnet import HRNet
from .mobilenet_v2 import MobileNetV2
from .regnet import RegNet
from .res2net import Res2Net
from .res_layer import ResLayer
from .resnest import ResNeSt
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetV1d
from .resnext import ResNeXt
from .ssd_vgg import SSDVGG

__all__ = ["Darknet", "HRNet", "MobileNetV2", "RegNet", "Res2Net", "ResLayer", "ResNeSt", "BasicBlock", "Bottleneck",
           "ResNet", "ResNetV1d", "ResNeXt", "SSDVGG"]
