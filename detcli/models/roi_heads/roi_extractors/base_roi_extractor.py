"""The part every RoI extractor shares: one RoI layer per feature level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule
from detcli.registry import ROI_LAYERS


class BaseRoIExtractor(BaseModule):
    """Holds ``roi_layers`` (one per stride, state-dict name ``roi_layers.i``).

    Subclasses decide which level each RoI is pooled from in ``forward``.
    """

    def __init__(
        self,
        roi_layer: Mapping,
        out_channels: int,
        featmap_strides: Sequence[int],
        init_cfg: Mapping | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.roi_layers = self.build_roi_layers(roi_layer, featmap_strides)
        self.out_channels = out_channels
        self.featmap_strides = list(featmap_strides)

    @property
    def num_inputs(self) -> int:
        """How many feature maps (finest first) this extractor reads."""
        return len(self.featmap_strides)

    def build_roi_layers(self, layer_cfg: Mapping, featmap_strides: Sequence[int]) -> nn.ModuleList:
        """One RoI layer per level; ``spatial_scale`` maps image pixels to that level's cells."""
        if not isinstance(layer_cfg, Mapping) or "type" not in layer_cfg:
            raise ConfigError(
                f"roi_layer must be a dict with a 'type' key, got {layer_cfg!r}",
                hint="e.g. roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)",
            )
        return nn.ModuleList(
            ROI_LAYERS.build(layer_cfg, default_args=dict(spatial_scale=1.0 / s)) for s in featmap_strides
        )

    @staticmethod
    def roi_rescale(rois: torch.Tensor, scale_factor: float) -> torch.Tensor:
        """Scale each RoI's width and height by ``scale_factor`` about its centre."""
        cx = (rois[:, 1] + rois[:, 3]) * 0.5
        cy = (rois[:, 2] + rois[:, 4]) * 0.5
        half_w = (rois[:, 3] - rois[:, 1]) * scale_factor * 0.5
        half_h = (rois[:, 4] - rois[:, 2]) * scale_factor * 0.5
        return torch.stack((rois[:, 0], cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=-1)

    def forward(self, feats, rois, roi_scale_factor=None):  # pragma: no cover - abstract
        raise NotImplementedError
