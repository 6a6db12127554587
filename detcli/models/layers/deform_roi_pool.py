"""Deformable RoI pooling (``roi_layer=dict(type='DeformRoIPoolPack' | 'ModulatedDeformRoIPoolPack')``).

RoIAlign (``aligned=True``, adaptive sampling) whose every output bin is shifted by a learned
offset: bin ``(i, j)`` starts ``gamma * roi_size * offset[:, (x, y), i, j]`` away from where RoIAlign
puts it. mmcv computes this in a CUDA-only kernel. Here, when the offsets need gradients
(training), the samples are taken with ``grid_sample`` (border-clamped, zero outside
``[-1, size]``, as mmcv's bilinear sampling); otherwise each shifted bin is pooled as a one-cell
``torchvision.ops.roi_align`` of its own box, the same samples at a fraction of the cost. Module
names (``offset_fc``, ``mask_fc``) are mmcv's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import roi_align

from detcli.registry import ROI_LAYERS

# samples x channels held at once (RoIs are pooled in chunks below this)
_SAMPLE_BUDGET = 1 << 24


def _sample(feat: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``feat`` (C, H, W) at pixel coordinates ``ys``/``xs`` (...) -> (C, ...)."""
    h, w = feat.shape[-2:]
    grid = torch.stack(((2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1), dim=-1).reshape(1, -1, 1, 2)
    values = F.grid_sample(feat[None], grid.to(feat.dtype), mode="bilinear", padding_mode="border",
                           align_corners=False)[0, :, :, 0]
    inside = (ys >= -1) & (ys <= h) & (xs >= -1) & (xs <= w)
    return (values * inside.reshape(1, -1).to(values.dtype)).reshape(feat.shape[0], *ys.shape)


def deform_roi_pool(input: torch.Tensor, rois: torch.Tensor, offset: torch.Tensor | None, output_size,
                    spatial_scale: float = 1.0, sampling_ratio: int = 0, gamma: float = 0.1) -> torch.Tensor:
    """``(n, C, ph, pw)`` pooled features of ``rois`` ``(n, 5)``; ``offset`` ``(n, 2, ph, pw)`` as (dx, dy)."""
    ph, pw = _pair(output_size)
    if offset is None:  # no shift: exactly RoIAlign with aligned=True
        return roi_align(input, rois, (ph, pw), spatial_scale, sampling_ratio, aligned=True)
    n, channels = rois.shape[0], input.shape[1]
    out = input.new_zeros(n, channels, ph, pw)
    if n == 0:
        return out
    x1 = rois[:, 1] * spatial_scale - 0.5
    y1 = rois[:, 2] * spatial_scale - 0.5
    roi_w = rois[:, 3] * spatial_scale - 0.5 - x1
    roi_h = rois[:, 4] * spatial_scale - 0.5 - y1
    bin_w, bin_h = roi_w / pw, roi_h / ph
    if sampling_ratio > 0:
        grid_h = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(roi_w, sampling_ratio, dtype=torch.long)
    else:
        grid_h = torch.ceil(roi_h / ph).long().clamp(min=0)
        grid_w = torch.ceil(roi_w / pw).long().clamp(min=0)
    start_x = x1[:, None, None] + torch.arange(pw, device=rois.device, dtype=rois.dtype) * bin_w[:, None, None]
    start_y = y1[:, None, None] + torch.arange(ph, device=rois.device, dtype=rois.dtype)[:, None] * bin_h[:, None, None]
    start_x = start_x.expand(n, ph, pw)
    start_y = start_y.expand(n, ph, pw)
    start_x = start_x + gamma * roi_w[:, None, None] * offset[:, 0]
    start_y = start_y + gamma * roi_h[:, None, None] * offset[:, 1]
    offset_grads = offset.requires_grad and torch.is_grad_enabled()
    if not offset_grads:
        return _pool_by_roi_align(input, rois, start_x, start_y, bin_w, bin_h, spatial_scale, sampling_ratio)
    count = (grid_h * grid_w).clamp(min=1).to(input.dtype)

    # RoIs with the most samples first, chunked so that no chunk holds more than the budget
    order = torch.argsort(grid_h * grid_w, descending=True)
    batch_idx = rois[:, 0].long()
    pooled = []
    start = 0
    while start < n:
        per_roi = max(ph * pw * int(grid_h[order[start]] * grid_w[order[start]]) * channels, 1)
        stop = min(n, start + max(1, _SAMPLE_BUDGET // per_roi))
        idx = order[start:stop]
        gh, gw = int(grid_h[idx].max()), int(grid_w[idx].max())
        pooled.append(_pool_chunk(input, batch_idx[idx], start_x[idx], start_y[idx], bin_w[idx], bin_h[idx],
                                  grid_h[idx], grid_w[idx], max(gh, 1), max(gw, 1)) / count[idx, None, None, None])
        start = stop
    return out.index_copy(0, order, torch.cat(pooled))


def _pool_by_roi_align(input, rois, start_x, start_y, bin_w, bin_h, spatial_scale: float, sampling_ratio: int):
    """Every bin as a one-cell RoIAlign of its own (shifted) box: fast, but without offset gradients.

    A bin of size ``bin_h`` gets ``ceil(bin_h)`` samples per side from RoIAlign's adaptive rule,
    which is the ``ceil(roi_h / ph)`` of the deformable kernel.
    """
    n, ph, pw = start_x.shape
    x1 = (start_x + 0.5) / spatial_scale
    y1 = (start_y + 0.5) / spatial_scale
    x2 = x1 + (bin_w / spatial_scale)[:, None, None]
    y2 = y1 + (bin_h / spatial_scale)[:, None, None]
    batch = rois[:, 0, None, None].expand(n, ph, pw)
    boxes = torch.stack((batch, x1, y1, x2, y2), dim=-1).reshape(-1, 5)
    pooled = roi_align(input, boxes.to(input.dtype), (1, 1), spatial_scale, sampling_ratio, aligned=True)
    return pooled.reshape(n, ph, pw, -1).permute(0, 3, 1, 2).contiguous()


def _pool_chunk(input, batch_idx, start_x, start_y, bin_w, bin_h, grid_h, grid_w, gh: int, gw: int):
    """Sum of each bin's ``grid_h x grid_w`` samples (padded to ``gh x gw``, extra samples masked)."""
    dtype, device = start_x.dtype, start_x.device
    iy = torch.arange(gh, device=device, dtype=dtype) + 0.5
    ix = torch.arange(gw, device=device, dtype=dtype) + 0.5
    # (k, ph, pw, gh, gw) sample positions
    ys = start_y[..., None, None] + (iy[:, None] * (bin_h / grid_h.clamp(min=1))[:, None, None, None, None])
    xs = start_x[..., None, None] + (ix[None, :] * (bin_w / grid_w.clamp(min=1))[:, None, None, None, None])
    ys, xs = torch.broadcast_tensors(ys, xs)
    valid = ((torch.arange(gh, device=device)[:, None] < grid_h[:, None, None, None, None])
             & (torch.arange(gw, device=device)[None, :] < grid_w[:, None, None, None, None]))
    k, ph, pw = start_x.shape
    sums = input.new_zeros(input.shape[1], k, ph, pw)
    for b in batch_idx.unique().tolist():
        sel = (batch_idx == b).nonzero(as_tuple=False).squeeze(1)
        values = _sample(input[b], ys[sel], xs[sel]) * valid[sel].to(input.dtype)
        sums = sums.index_add(1, sel, values.sum(dim=(-1, -2)))
    return sums.transpose(0, 1)


@ROI_LAYERS.register_module()
class DeformRoIPool(nn.Module):
    """Deformable RoI pooling with externally given offsets (``forward(input, rois, offset=None)``)."""

    def __init__(self, output_size, spatial_scale: float = 1.0, sampling_ratio: int = 0, gamma: float = 0.1) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.gamma = float(gamma)

    def forward(self, input: torch.Tensor, rois: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        return deform_roi_pool(input, rois, offset, self.output_size, self.spatial_scale, self.sampling_ratio,
                               self.gamma)


def _fc_stack(in_features: int, hidden: int, out_features: int, layers: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    for i in range(layers - 1):
        modules += [nn.Linear(in_features if i == 0 else hidden, hidden), nn.ReLU(inplace=True)]
    modules.append(nn.Linear(hidden, out_features))
    return nn.Sequential(*modules)


@ROI_LAYERS.register_module()
class DeformRoIPoolPack(DeformRoIPool):
    """Offsets predicted from a plain RoIAlign of the RoI by ``offset_fc`` (three fcs, the last one zeroed)."""

    def __init__(self, output_size, output_channels: int, deform_fc_channels: int = 1024, spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, gamma: float = 0.1) -> None:
        super().__init__(output_size, spatial_scale, sampling_ratio, gamma)
        self.output_channels = output_channels
        self.deform_fc_channels = deform_fc_channels
        bins = self.output_size[0] * self.output_size[1]
        self.offset_fc = _fc_stack(bins * output_channels, deform_fc_channels, bins * 2, layers=3)
        nn.init.zeros_(self.offset_fc[-1].weight)
        nn.init.zeros_(self.offset_fc[-1].bias)

    def _offsets(self, input: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if input.size(1) != self.output_channels:
            raise ValueError(f"{type(self).__name__}: {input.size(1)} input channels, built for "
                             f"{self.output_channels}")
        plain = deform_roi_pool(input, rois, None, self.output_size, self.spatial_scale, self.sampling_ratio,
                                self.gamma).view(rois.size(0), -1)
        return plain, self.offset_fc(plain).view(rois.size(0), 2, *self.output_size)

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        _, offset = self._offsets(input, rois)
        return super().forward(input, rois, offset)


@ROI_LAYERS.register_module()
class ModulatedDeformRoIPoolPack(DeformRoIPoolPack):
    """``DeformRoIPoolPack`` whose bins are also scaled by ``mask_fc`` (two fcs + sigmoid, starting at 0.5)."""

    def __init__(self, output_size, output_channels: int, deform_fc_channels: int = 1024, spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, gamma: float = 0.1) -> None:
        super().__init__(output_size, output_channels, deform_fc_channels, spatial_scale, sampling_ratio, gamma)
        bins = self.output_size[0] * self.output_size[1]
        self.mask_fc = nn.Sequential(*_fc_stack(bins * output_channels, deform_fc_channels, bins, layers=2),
                                     nn.Sigmoid())
        nn.init.zeros_(self.mask_fc[2].weight)
        nn.init.zeros_(self.mask_fc[2].bias)

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        plain, offset = self._offsets(input, rois)
        mask = self.mask_fc(plain).view(rois.size(0), 1, *self.output_size)
        return deform_roi_pool(input, rois, offset, self.output_size, self.spatial_scale, self.sampling_ratio,
                               self.gamma) * mask


__all__ = ["DeformRoIPool", "DeformRoIPoolPack", "ModulatedDeformRoIPoolPack", "deform_roi_pool"]
