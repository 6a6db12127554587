"""detcli: object detection and instance segmentation, compatible with mmdetection 2.x."""

__version__ = "0.1.0"
