"""Grid R-CNN (https://arxiv.org/abs/1811.12030)."""

from __future__ import annotations

from detcli.registry import DETECTORS

from .two_stage import TwoStageDetector


@DETECTORS.register_module()
class GridRCNN(TwoStageDetector):
    """A two-stage detector whose boxes are placed by a grid of point heatmaps (``GridRoIHead``)."""
