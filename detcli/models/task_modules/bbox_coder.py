"""Box <-> regression-target coding (``DeltaXYWHBBoxCoder``: the R-CNN ``dx, dy, dw, dh`` deltas)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from detcli.registry import BBOX_CODERS
from detcli.structures.boxes import clip_bboxes

DEFAULT_WH_RATIO_CLIP = 16 / 1000


def bbox2delta(proposals: torch.Tensor, gt: torch.Tensor, means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
               stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Normalised deltas that move ``proposals`` onto ``gt`` (same shape ``(..., 4)``)."""
    proposals = proposals.float()
    gt = gt.float()
    px = (proposals[..., 0] + proposals[..., 2]) * 0.5
    py = (proposals[..., 1] + proposals[..., 3]) * 0.5
    pw = proposals[..., 2] - proposals[..., 0]
    ph = proposals[..., 3] - proposals[..., 1]
    gx = (gt[..., 0] + gt[..., 2]) * 0.5
    gy = (gt[..., 1] + gt[..., 3]) * 0.5
    gw = gt[..., 2] - gt[..., 0]
    gh = gt[..., 3] - gt[..., 1]
    deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def delta2bbox(
    rois: torch.Tensor,
    deltas: torch.Tensor,
    means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    max_shape: Sequence[int] | torch.Tensor | None = None,
    wh_ratio_clip: float = DEFAULT_WH_RATIO_CLIP,
    clip_border: bool = True,
    add_ctr_clamp: bool = False,
    ctr_clamp: float = 32,
) -> torch.Tensor:
    """Apply ``deltas`` ``(n, 4k)`` to ``rois`` ``(n, 4)``; returns ``(n, 4k)`` boxes.

    Width/height changes are clamped to ``|log(wh_ratio_clip)|`` before ``exp`` and the
    result is clipped to ``[0, w] x [0, h]`` of ``max_shape`` when ``clip_border``.
    """
    num_bboxes = deltas.size(0)
    if num_bboxes == 0:
        return deltas
    bboxes = apply_deltas(rois, deltas, means, stds, wh_ratio_clip, add_ctr_clamp, ctr_clamp)
    if clip_border and max_shape is not None:
        bboxes = clip_bboxes(bboxes, max_shape)
    return bboxes.reshape(num_bboxes, -1)


def apply_deltas(
    rois: torch.Tensor,
    deltas: torch.Tensor,
    means: Sequence[float],
    stds: Sequence[float],
    wh_ratio_clip: float = DEFAULT_WH_RATIO_CLIP,
    add_ctr_clamp: bool = False,
    ctr_clamp: float = 32,
) -> torch.Tensor:
    """The unclipped ``(n * k, 4)`` boxes of ``delta2bbox`` (shared with the ONNX exporter)."""
    num_classes = deltas.size(1) // 4
    deltas = deltas.reshape(-1, 4)
    denorm = deltas * deltas.new_tensor(stds).view(1, -1) + deltas.new_tensor(means).view(1, -1)
    dxy, dwh = denorm[:, :2], denorm[:, 2:]
    rois_ = rois.repeat(1, num_classes).reshape(-1, 4)
    pxy = (rois_[:, :2] + rois_[:, 2:]) * 0.5
    pwh = rois_[:, 2:] - rois_[:, :2]
    dxy_wh = pwh * dxy
    max_ratio = abs(math.log(wh_ratio_clip))
    if add_ctr_clamp:
        dxy_wh = torch.clamp(dxy_wh, max=ctr_clamp, min=-ctr_clamp)
        dwh = torch.clamp(dwh, max=max_ratio)
    else:
        dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    return torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)


class BaseBBoxCoder:
    """Interface of box coders: ``encode(bboxes, gt_bboxes)`` and ``decode(bboxes, preds)``."""

    def __init__(self, **kwargs) -> None:
        pass

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, bboxes: torch.Tensor, bboxes_pred: torch.Tensor, **kwargs) -> torch.Tensor:
        raise NotImplementedError


@BBOX_CODERS.register_module()
class DeltaXYWHBBoxCoder(BaseBBoxCoder):
    """Deltas ``((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph))``, normalised by means/stds."""

    def __init__(self, target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), clip_border: bool = True,
                 add_ctr_clamp: bool = False, ctr_clamp: float = 32) -> None:
        super().__init__()
        self.means = target_means
        self.stds = target_stds
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        if bboxes.size(0) != gt_bboxes.size(0) or bboxes.size(-1) != 4 or gt_bboxes.size(-1) != 4:
            raise ValueError(f"encode needs two (n, 4) tensors, got {tuple(bboxes.shape)} and "
                             f"{tuple(gt_bboxes.shape)}")
        return bbox2delta(bboxes, gt_bboxes, self.means, self.stds)

    def decode(self, bboxes: torch.Tensor, pred_bboxes: torch.Tensor,
               max_shape: Sequence[int] | torch.Tensor | None = None,
               wh_ratio_clip: float = DEFAULT_WH_RATIO_CLIP) -> torch.Tensor:
        """Boxes from ``pred_bboxes`` deltas (``(n, 4k)``, or batched ``(B, n, 4k)``)."""
        if pred_bboxes.size(0) != bboxes.size(0):
            raise ValueError(f"{bboxes.size(0)} boxes for {pred_bboxes.size(0)} predictions")
        if pred_bboxes.ndim == 3:  # batched: decode as one flat set, clip per image
            batch, num = pred_bboxes.shape[:2]
            flat = delta2bbox(bboxes.reshape(-1, 4), pred_bboxes.reshape(batch * num, -1), self.means,
                              self.stds, None, wh_ratio_clip, False, self.add_ctr_clamp, self.ctr_clamp)
            out = flat.reshape(batch, num, -1)
            if self.clip_border and max_shape is not None:
                out = clip_bboxes(out.view(batch, -1, 4), max_shape).view(batch, num, -1)
            return out
        return delta2bbox(bboxes, pred_bboxes, self.means, self.stds, max_shape, wh_ratio_clip,
                          self.clip_border, self.add_ctr_clamp, self.ctr_clamp)
