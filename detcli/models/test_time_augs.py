"""Merging the predictions of test-time augmentations (flips, scales) of one image.

Every augmentation's boxes are first mapped back to the original image, then
averaged (boxes and scores of the same RoIs) or pooled and NMS-ed (proposals).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from detcli.models.post_processing import nms
from detcli.structures.boxes import bbox_mapping_back

logger = logging.getLogger("detcli")


def _proposal_cfg(cfg: Mapping) -> tuple[float, int]:
    """``(iou_threshold, max_per_img)`` from an rpn test cfg, old key names included."""
    if "nms" in cfg:
        iou_thr = cfg["nms"]["iou_threshold"]
    elif "nms_thr" in cfg:
        logger.warning("rpn test cfg: 'nms_thr' is deprecated; use nms=dict(type='nms', iou_threshold=...)")
        iou_thr = cfg["nms_thr"]
    else:
        raise KeyError("the rpn test cfg has no 'nms' entry")
    max_num = cfg.get("max_per_img", cfg.get("max_num"))
    if max_num is None:
        raise KeyError("the rpn test cfg has no 'max_per_img' entry")
    return float(iou_thr), int(max_num)


def _meta_of(img_info):
    """Accept a meta dict or the one-image list ``[meta]`` the roi heads pass around."""
    return img_info[0] if isinstance(img_info, (list, tuple)) else img_info


def _back_to_original(bboxes: torch.Tensor, meta: Mapping) -> torch.Tensor:
    return bbox_mapping_back(
        bboxes, meta["img_shape"], meta["scale_factor"], meta["flip"], meta.get("flip_direction", "horizontal")
    )


def merge_aug_proposals(aug_proposals: Sequence[torch.Tensor], img_metas: Sequence, cfg: Mapping) -> torch.Tensor:
    """Pool the ``(n, 5)`` proposals of all augmentations in original-image pixels, NMS, keep the best."""
    iou_thr, max_num = _proposal_cfg(cfg)
    recovered = []
    for proposals, img_info in zip(aug_proposals, img_metas):
        restored = proposals.clone()
        restored[:, :4] = _back_to_original(restored[:, :4], _meta_of(img_info))
        recovered.append(restored)
    proposals = torch.cat(recovered, dim=0)
    _, keep = nms(proposals[:, :4].contiguous(), proposals[:, 4].contiguous(), iou_thr)
    merged = proposals[keep]
    # a second (unstable) sort by score decides which tied proposals make the cut, as in
    # mmdetection 2.x; it matters for saturated scores
    order = merged[:, 4].sort(0, descending=True)[1]
    return merged[order[:max_num]]


def merge_aug_bboxes(aug_bboxes, aug_scores, img_metas, rcnn_test_cfg=None):
    """Average the same RoIs' boxes (``(n, 4*C)``) and scores over augmentations, in original pixels.

    Returns ``bboxes`` alone when ``aug_scores`` is None, else ``(bboxes, scores)``.
    """
    recovered = [_back_to_original(b, _meta_of(info)) for b, info in zip(aug_bboxes, img_metas)]
    bboxes = torch.stack(recovered).mean(dim=0)
    if aug_scores is None:
        return bboxes
    return bboxes, torch.stack(list(aug_scores)).mean(dim=0)


def merge_aug_scores(aug_scores):
    """Mean of the augmentations' scores (tensors or arrays)."""
    if isinstance(aug_scores[0], torch.Tensor):
        return torch.stack(list(aug_scores)).mean(dim=0)
    return np.mean(aug_scores, axis=0)


_UNFLIP = {
    "horizontal": (slice(None), slice(None), slice(None), slice(None, None, -1)),
    "vertical": (slice(None), slice(None), slice(None, None, -1), slice(None)),
    "diagonal": (slice(None), slice(None), slice(None, None, -1), slice(None, None, -1)),
}


def merge_aug_masks(aug_masks, img_metas, rcnn_test_cfg=None, weights=None) -> np.ndarray:
    """Average ``(n, C, h, w)`` mask probabilities over augmentations, flipped ones flipped back."""
    recovered = []
    for mask, img_info in zip(aug_masks, img_metas):
        meta = _meta_of(img_info)
        if meta["flip"]:
            direction = meta.get("flip_direction", "horizontal")
            if direction not in _UNFLIP:
                raise ValueError(f"invalid flip direction {direction!r}")
            mask = mask[_UNFLIP[direction]]
        recovered.append(mask)
    if weights is None:
        return np.mean(recovered, axis=0)
    return np.average(np.array(recovered), axis=0, weights=np.array(weights))
