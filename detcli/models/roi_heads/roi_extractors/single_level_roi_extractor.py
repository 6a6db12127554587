"""Pool each RoI from the one FPN level that suits its size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.nn.modules.utils import _pair

from detcli.registry import ROI_EXTRACTORS

from .base_roi_extractor import BaseRoIExtractor


@ROI_EXTRACTORS.register_module()
class SingleRoIExtractor(BaseRoIExtractor):
    """FPN level assignment: a RoI of side ``s`` goes to ``floor(log2(s / finest_scale))``.

    So RoIs smaller than ``2 * finest_scale`` use level 0, up to ``4 * finest_scale``
    level 1, and so on, clipped to the levels given.
    """

    def __init__(
        self,
        roi_layer: Mapping,
        out_channels: int,
        featmap_strides: Sequence[int],
        finest_scale: int = 56,
        init_cfg: Mapping | None = None,
    ) -> None:
        super().__init__(roi_layer, out_channels, featmap_strides, init_cfg)
        self.finest_scale = finest_scale

    def map_roi_levels(self, rois: torch.Tensor, num_levels: int) -> torch.Tensor:
        """The level index (0-based, int64) of each ``(k, 5)`` RoI."""
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        # the 1e-6 keeps RoIs of exactly 2^k * finest_scale on the coarser level
        levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return levels.clamp(min=0, max=num_levels - 1).long()

    def forward(
        self,
        feats: Sequence[torch.Tensor],
        rois: torch.Tensor,
        roi_scale_factor: float | None = None,
    ) -> torch.Tensor:
        """``(k, out_channels, *output_size)`` features for ``(k, 5)`` rois ``[batch_idx, x1, y1, x2, y2]``."""
        out_size = _pair(self.roi_layers[0].output_size)
        num_levels = len(feats)
        roi_feats = feats[0].new_zeros(rois.size(0), self.out_channels, *out_size)
        if num_levels == 1:
            if rois.size(0) == 0:
                return roi_feats
            # one level: roi_scale_factor is not applied; single-level checkpoints trained
            # with mmdetection 2.x were trained that way, so their outputs depend on it
            return self.roi_layers[0](feats[0], rois)

        # levels follow the RoI as given; the rescale only widens what is pooled
        target_lvls = self.map_roi_levels(rois, num_levels)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        for level in range(num_levels):
            inds = (target_lvls == level).nonzero(as_tuple=False).squeeze(1)
            if inds.numel() > 0:
                roi_feats[inds] = self.roi_layers[level](feats[level], rois[inds])
            elif torch.is_grad_enabled():
                # a zero-weighted term keeps every level (and parameter) in the graph,
                # which distributed training needs to find all gradients
                roi_feats = roi_feats + feats[level].sum() * 0.0
        return roi_feats
