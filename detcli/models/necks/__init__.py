"""Necks."""

from .bfp import BFP
from .fpn import FPN
from .hrfpn import HRFPN
from .nas_fpn import NASFPN
from .pafpn import PAFPN
from .ssd_neck import SSDNeck
from .yolo_neck import YOLOV3Neck

__all__ = ["BFP", "FPN", "HRFPN", "NASFPN", "PAFPN", "SSDNeck", "YOLOV3Neck"]
