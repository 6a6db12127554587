"""SCNet (https://arxiv.org/abs/2012.10150)."""

from __future__ import annotations

from detcli.registry import DETECTORS

from .cascade_rcnn import CascadeRCNN


@DETECTORS.register_module()
class SCNet(CascadeRCNN):
    """A box cascade with one mask head on its final boxes and relayed features (``SCNetRoIHead``)."""
