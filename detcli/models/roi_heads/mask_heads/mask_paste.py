"""Paste RoI-sized mask probabilities into full images.

Each image pixel samples the RoI mask at its centre (``grid_sample``,
``align_corners=False``), so a 28x28 mask stretched over its box reproduces the
reference implementation's pasting bit for bit. On the CPU only a window of one
pixel around each box is evaluated (pixels further out are 0); on the GPU the whole
image is. Both are what mmdetection 2.x does on each device, and the difference is
visible for boxes wider than 56 pixels, so it is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# grid points evaluated at once; bounds the temporary memory to ~100 MB
POINTS_PER_CHUNK = 1 << 22


def _windows(boxes: torch.Tensor, img_h: int, img_w: int, around_boxes: bool):
    """Per box, the ``[x0, x1) x [y0, y1)`` pixel window that is evaluated (int64 tensors)."""
    if not around_boxes:
        n = boxes.size(0)
        zeros = boxes.new_zeros(n, dtype=torch.long)
        return zeros, zeros + img_w, zeros.clone(), zeros + img_h
    x0 = (boxes[:, 0].floor() - 1).clamp(min=0).to(torch.int32).long()
    y0 = (boxes[:, 1].floor() - 1).clamp(min=0).to(torch.int32).long()
    x1 = (boxes[:, 2].ceil() + 1).clamp(max=img_w).to(torch.int32).long()
    y1 = (boxes[:, 3].ceil() + 1).clamp(max=img_h).to(torch.int32).long()
    return x0, x1, y0, y1


def _normalised(pixels: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Pixel centres in the box's [-1, 1] grid_sample coordinates (degenerate boxes give 0, not inf)."""
    coords = (pixels.to(torch.float32) + 0.5 - lo) / (hi - lo) * 2 - 1
    return coords.masked_fill(torch.isinf(coords), 0)


def paste_masks_in_image(
    masks: torch.Tensor,
    boxes: torch.Tensor,
    img_h: int,
    img_w: int,
    threshold: float = 0.5,
    around_boxes: bool | None = None,
) -> torch.Tensor:
    """``(N, img_h, img_w)`` masks from ``(N, 1, h, w)`` probabilities and ``(N, 4)`` boxes.

    ``threshold >= 0`` gives bool masks (``prob >= threshold``); a negative one gives
    uint8 ``prob * 255``. ``around_boxes`` defaults to True on the CPU (see module doc).
    """
    device = masks.device
    if around_boxes is None:
        around_boxes = device.type == "cpu"
    num = masks.size(0)
    binary = threshold >= 0
    out = torch.zeros(num, img_h, img_w, device=device, dtype=torch.bool if binary else torch.uint8)
    if num == 0:
        return out
    boxes = boxes.to(torch.float32)
    masks = masks.to(torch.float32)
    x0i, x1i, y0i, y1i = _windows(boxes, img_h, img_w, around_boxes)
    win_w = (x1i - x0i).clamp(min=0)
    win_h = (y1i - y0i).clamp(min=0)

    # largest windows first; a chunk ends where its padding to its largest window would pass 2x
    side = torch.maximum(win_w, win_h)
    order = torch.argsort(side, descending=True)
    sides = side[order].tolist()
    start = 0
    while start < num:
        biggest = max(sides[start], 1)
        stop = min(num, start + max(1, POINTS_PER_CHUNK // (biggest * biggest)))
        stop = next((j for j in range(start + 1, stop) if 2 * sides[j] * sides[j] < biggest * biggest), stop)
        idx = order[start:stop]
        _paste_chunk(out, masks[idx], boxes[idx], idx, x0i[idx], y0i[idx], win_w[idx], win_h[idx], threshold)
        start = stop
    return out


def _paste_chunk(out, masks, boxes, idx, x0i, y0i, win_w, win_h, threshold) -> None:
    max_w = int(win_w.max())
    max_h = int(win_h.max())
    if max_w == 0 or max_h == 0:
        return
    device = masks.device
    cols = x0i[:, None] + torch.arange(max_w, device=device)  # (n, W)
    rows = y0i[:, None] + torch.arange(max_h, device=device)  # (n, H)
    gx = _normalised(cols, boxes[:, 0:1], boxes[:, 2:3])
    gy = _normalised(rows, boxes[:, 1:2], boxes[:, 3:4])
    n = masks.size(0)
    grid = masks.new_empty(n, max_h, max_w, 2)
    grid[..., 0] = gx[:, None, :]
    grid[..., 1] = gy[:, :, None]
    probs = F.grid_sample(masks, grid, align_corners=False)[:, 0]
    values = probs >= threshold if threshold >= 0 else (probs * 255).to(torch.uint8)

    # each box writes its own image plane: one slice copy per box (no index tensors to build)
    for k, (i, x0, y0, w, h) in enumerate(zip(idx.tolist(), x0i.tolist(), y0i.tolist(), win_w.tolist(),
                                              win_h.tolist())):
        if w > 0 and h > 0:
            out[i, y0:y0 + h, x0:x0 + w] = values[k, :h, :w]
