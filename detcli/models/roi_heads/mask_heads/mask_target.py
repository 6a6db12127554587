"""Mask targets: each positive RoI's ground-truth mask, cropped to the RoI and resized."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.modules.utils import _pair


def mask_target(pos_proposals_list, pos_assigned_gt_inds_list, gt_masks_list, cfg) -> torch.Tensor:
    """``(num_pos_in_batch, *mask_size)`` float targets for the positives of every image."""
    targets = [
        mask_target_single(p, i, m, cfg)
        for p, i, m in zip(pos_proposals_list, pos_assigned_gt_inds_list, gt_masks_list)
    ]
    return torch.cat(targets) if targets else targets


def mask_target_single(pos_proposals: torch.Tensor, pos_assigned_gt_inds: torch.Tensor, gt_masks, cfg):
    """Targets of one image. ``cfg['mask_size']``; ``soft_mask_target=True`` keeps fractions."""
    device = pos_proposals.device
    mask_size: Sequence[int] = _pair(cfg["mask_size"])
    binarize = not cfg.get("soft_mask_target", False)
    if pos_proposals.size(0) == 0:
        return pos_proposals.new_zeros((0, *mask_size))
    # RoIs are clipped to the image before cropping: outside the image there is no mask
    boxes = pos_proposals.detach().cpu().numpy().copy()
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, gt_masks.width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, gt_masks.height)
    targets = gt_masks.crop_and_resize(
        boxes,
        mask_size,
        device=device,
        inds=pos_assigned_gt_inds.cpu().numpy(),
        binarize=binarize,
    ).to_ndarray()
    return torch.from_numpy(targets).float().to(device)
