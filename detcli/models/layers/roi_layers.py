"""RoI pooling layers (``roi_layer=dict(type='RoIAlign', ...)`` in RoI extractors) on torchvision ops."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import roi_align, roi_pool

from detcli.errors import ConfigError
from detcli.registry import ROI_LAYERS


@ROI_LAYERS.register_module()
class RoIAlign(nn.Module):
    """RoIAlign over ``rois`` of shape ``(n, 5)``: ``[batch_index, x1, y1, x2, y2]``.

    ``sampling_ratio=0`` samples adaptively (``ceil(roi_size / output_size)`` points per bin);
    ``aligned=True`` shifts boxes by half a pixel so that pixel centres line up.
    """

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        pool_mode: str = "avg",
        aligned: bool = True,
        use_torchvision: bool = False,
    ) -> None:
        super().__init__()
        if pool_mode != "avg":
            raise ConfigError(
                f"RoIAlign pool_mode={pool_mode!r} is not supported",
                hint="use pool_mode='avg' (the default)",
            )
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned
        self.use_torchvision = use_torchvision

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # noqa: A002
        return roi_align(input, rois.to(input.dtype), self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")


@ROI_LAYERS.register_module()
class RoIPool(nn.Module):
    """Max RoI pooling (Fast R-CNN), boxes quantised to the feature grid."""

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float = 1.0) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # noqa: A002
        return roi_pool(input, rois.to(input.dtype), self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
