"""Instance masks that follow every geometric transform of their image.

Two representations with one API (mmdetection 2.x compatible):

* ``BitmapMasks``: an ``(N, H, W)`` uint8 array, one binary mask per instance.
* ``PolygonMasks``: per instance a list of flat ``[x0, y0, x1, y1, ...]`` float arrays
  (several parts per object); exact under scaling and cheap to transform, rasterised
  with pycocotools only when pixels are needed.

Bitmap operations run on the whole stack at once (OpenCV treats the instances as
channels); polygon operations transform all vertices of all instances in one array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import torch

_CV2_INTERP = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
_FLIP_DIRECTIONS = ("horizontal", "vertical", "diagonal")
_CV2_MAX_CHANNELS = 512  # OpenCV's limit on channels per array


def rescaled_size(width: int, height: int, scale: float | tuple[int, int]) -> tuple[int, int]:
    """``(new_w, new_h)`` for a scale factor, or the largest size that fits a (long, short) edge pair.

    Rounding is ``int(x * s + 0.5)``, the rule every mmdetection 2.x resize follows.
    """
    factor = rescale_factor(width, height, scale)
    return int(width * float(factor) + 0.5), int(height * float(factor) + 0.5)


def rescale_factor(width: int, height: int, scale: float | tuple[int, int]) -> float:
    """The factor keep-ratio resizing applies for ``scale`` (a number or a (long, short) edge pair)."""
    if isinstance(scale, (int, float)):
        if scale <= 0:
            raise ValueError(f"invalid scale {scale}: it must be positive")
        return scale
    if isinstance(scale, (tuple, list)) and len(scale) == 2:
        long_edge, short_edge = max(scale), min(scale)
        return min(long_edge / max(height, width), short_edge / min(height, width))
    raise TypeError(f"scale must be a number or a (long, short) pair, got {scale!r}")


def _apply_to_channels(stack: np.ndarray, fn) -> np.ndarray:
    """Run an OpenCV image op on an ``(N, H, W)`` stack, N at a time as channels."""
    outs = []
    for start in range(0, len(stack), _CV2_MAX_CHANNELS):
        chunk = np.ascontiguousarray(stack[start:start + _CV2_MAX_CHANNELS].transpose(1, 2, 0))
        out = fn(chunk)
        if out.ndim == 2:  # OpenCV drops a single channel
            out = out[:, :, None]
        outs.append(out.transpose(2, 0, 1))
    return np.concatenate(outs, axis=0)


class BitmapMasks:
    """``N`` binary masks of one ``height x width`` image, stored as an ``(N, H, W)`` array."""

    def __init__(self, masks: np.ndarray | Sequence[np.ndarray], height: int, width: int) -> None:
        self.height = int(height)
        self.width = int(width)
        if len(masks) == 0:
            self.masks = np.empty((0, self.height, self.width), dtype=np.uint8)
        else:
            arr = np.stack(masks) if isinstance(masks, (list, tuple)) else np.asarray(masks)
            self.masks = arr.reshape(-1, self.height, self.width)

    # -- container protocol -------------------------------------------------------
    def __getitem__(self, index: Any) -> BitmapMasks:
        return BitmapMasks(self.masks[index].reshape(-1, self.height, self.width), self.height, self.width)

    def __iter__(self):
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        return f"BitmapMasks(num_masks={len(self)}, height={self.height}, width={self.width})"

    # -- geometry -------------------------------------------------------------------
    def rescale(self, scale: float | tuple[int, int], interpolation: str = "nearest") -> BitmapMasks:
        """Keep-ratio resize by a factor or into a (long, short) edge pair, as the image is."""
        new_w, new_h = rescaled_size(self.width, self.height, scale)
        return self.resize((new_h, new_w), interpolation)

    def resize(self, out_shape: tuple[int, int], interpolation: str = "nearest") -> BitmapMasks:
        """Resize to ``out_shape = (h, w)``."""
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return BitmapMasks([], out_h, out_w)
        if (out_h, out_w) == (self.height, self.width):  # what cv2.resize would return: a copy
            return BitmapMasks(self.masks.copy(), out_h, out_w)
        flag = _CV2_INTERP[interpolation]
        # one call per mask: faster than stacking them as channels (no transposes)
        resized = np.stack([cv2.resize(m, (out_w, out_h), interpolation=flag) for m in self.masks])
        return BitmapMasks(resized, out_h, out_w)

    def flip(self, flip_direction: str = "horizontal") -> BitmapMasks:
        if flip_direction not in _FLIP_DIRECTIONS:
            raise ValueError(f"flip direction must be one of {_FLIP_DIRECTIONS}, got {flip_direction!r}")
        axes = {"horizontal": (2,), "vertical": (1,), "diagonal": (1, 2)}[flip_direction]
        return BitmapMasks(np.flip(self.masks, axis=axes), self.height, self.width)

    def pad(self, out_shape: tuple[int, int], pad_val: int = 0) -> BitmapMasks:
        """Pad at the bottom and right to ``out_shape = (h, w)``."""
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        padded = np.full((len(self), out_h, out_w), pad_val, dtype=self.masks.dtype)
        h, w = min(out_h, self.height), min(out_w, self.width)
        padded[:, :h, :w] = self.masks[:, :h, :w]
        return BitmapMasks(padded, out_h, out_w)

    def crop(self, bbox: np.ndarray) -> BitmapMasks:
        """Crop to the integer box ``[x1, y1, x2, y2]`` (clipped to the image, at least 1 px)."""
        x1, y1, w, h = _crop_window(bbox, self.width, self.height)
        return BitmapMasks(self.masks[:, y1:y1 + h, x1:x1 + w], h, w)

    def crop_and_resize(
        self,
        bboxes: np.ndarray | torch.Tensor,
        out_shape: tuple[int, int],
        inds: np.ndarray | torch.Tensor,
        device: str | torch.device = "cpu",
        interpolation: str = "bilinear",
        binarize: bool = True,
    ) -> BitmapMasks:
        """Mask targets: box ``i`` cut from mask ``inds[i]`` and resampled to ``out_shape``.

        RoIAlign with ``aligned=True`` and adaptive sampling over the box in pixel
        coordinates; values ``>= 0.5`` are foreground when ``binarize``.
        """
        from torchvision.ops import roi_align

        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0 or len(bboxes) == 0:
            return BitmapMasks([], out_h, out_w)
        boxes = torch.as_tensor(bboxes, device=device)
        if not boxes.is_floating_point():
            boxes = boxes.float()
        # only the masks some box is cut from become float (a crowd image holds hundreds of them)
        used, index = np.unique(np.asarray(torch.as_tensor(inds).cpu()).reshape(-1), return_inverse=True)
        index = torch.as_tensor(index, device=device).to(boxes.dtype).reshape(-1, 1)
        rois = torch.cat([index, boxes.reshape(-1, 4)], dim=1)
        stack = torch.from_numpy(np.ascontiguousarray(self.masks[used])).to(device=device, dtype=boxes.dtype)
        targets = roi_align(stack[:, None], rois, (out_h, out_w), 1.0, 0, True).squeeze(1)
        resized = (targets >= 0.5) if binarize else targets
        return BitmapMasks(resized.cpu().numpy(), out_h, out_w)

    def expand(self, expanded_h: int, expanded_w: int, top: int, left: int) -> BitmapMasks:
        """Place the masks at ``(top, left)`` of a larger empty canvas."""
        canvas = np.zeros((len(self), expanded_h, expanded_w), dtype=self.masks.dtype if len(self) else np.uint8)
        canvas[:, top:top + self.height, left:left + self.width] = self.masks
        return BitmapMasks(canvas, expanded_h, expanded_w)

    def translate(
        self,
        out_shape: tuple[int, int],
        offset: float,
        direction: str = "horizontal",
        fill_val: int = 0,
        interpolation: str = "bilinear",
    ) -> BitmapMasks:
        """Shift by ``offset`` pixels along ``direction``; uncovered pixels get ``fill_val``."""
        if len(self) == 0:
            return BitmapMasks([], *out_shape)
        dx, dy = (offset, 0) if direction == "horizontal" else (0, offset)
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        return self._warp(matrix, out_shape, fill_val, interpolation)

    def rotate(
        self,
        out_shape: tuple[int, int],
        angle: float,
        center: tuple[float, float] | None = None,
        scale: float = 1.0,
        fill_val: int = 0,
    ) -> BitmapMasks:
        """Rotate by ``angle`` degrees clockwise about ``center`` (default: the image centre)."""
        if len(self) == 0:
            return BitmapMasks([], *out_shape)
        if center is None:
            center = ((self.width - 1) * 0.5, (self.height - 1) * 0.5)
        matrix = cv2.getRotationMatrix2D(center, -angle, scale)
        return self._warp(matrix, out_shape, fill_val, "bilinear")

    def shear(
        self,
        out_shape: tuple[int, int],
        magnitude: float,
        direction: str = "horizontal",
        border_value: int = 0,
        interpolation: str = "bilinear",
    ) -> BitmapMasks:
        if len(self) == 0:
            return BitmapMasks([], *out_shape)
        matrix = np.float32([[1, magnitude, 0], [0, 1, 0]] if direction == "horizontal" else [[1, 0, 0], [magnitude, 1, 0]])
        return self._warp(matrix, out_shape, border_value, interpolation)

    def _warp(self, matrix: np.ndarray, out_shape: tuple[int, int], fill_val: int, interpolation: str) -> BitmapMasks:
        size = (self.width, self.height)
        flag = _CV2_INTERP[interpolation]
        warped = _apply_to_channels(
            self.masks,
            lambda a: cv2.warpAffine(a, matrix, size, flags=flag, borderValue=fill_val),
        ).astype(self.masks.dtype)
        return BitmapMasks(warped, *out_shape)

    # -- conversion -------------------------------------------------------------------
    @property
    def areas(self) -> np.ndarray:
        """Foreground pixels per mask."""
        return self.masks.sum((1, 2))

    def to_ndarray(self) -> np.ndarray:
        return self.masks

    def to_tensor(self, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
        return torch.tensor(self.masks, dtype=dtype, device=device)

    def get_bboxes(self) -> np.ndarray:
        """Tight ``(N, 4)`` boxes ``[x1, y1, x2, y2]`` (x2/y2 exclusive); zeros for empty masks."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        if len(self) == 0:
            return boxes
        cols = self.masks.any(axis=1)  # (N, W)
        rows = self.masks.any(axis=2)  # (N, H)
        nonempty = cols.any(axis=1)
        x1 = cols.argmax(axis=1)
        x2 = self.width - cols[:, ::-1].argmax(axis=1)
        y1 = rows.argmax(axis=1)
        y2 = self.height - rows[:, ::-1].argmax(axis=1)
        boxes[nonempty] = np.stack([x1, y1, x2, y2], axis=1)[nonempty]
        return boxes

    def to_polygons(self) -> PolygonMasks:
        """Outer and hole contours of each mask as polygons (OpenCV contours)."""
        polys = [bitmap_to_polygon(m)[0] for m in self.masks]
        return PolygonMasks([[c.reshape(-1).astype(np.float64) for c in p if len(c) >= 3] for p in polys],
                            self.height, self.width)


class PolygonMasks:
    """Per instance a list of polygons ``[x0, y0, x1, y1, ...]`` (float arrays) in image pixels."""

    def __init__(self, masks: list[list[np.ndarray]], height: int, width: int) -> None:
        if not isinstance(masks, list):
            raise TypeError(f"PolygonMasks expects a list (per instance) of lists of arrays, got {type(masks)}")
        self.height = int(height)
        self.width = int(width)
        self.masks = [[np.asarray(p, dtype=np.float64) for p in obj] for obj in masks]

    # -- container protocol -------------------------------------------------------
    def __getitem__(self, index: Any) -> PolygonMasks:
        if isinstance(index, np.ndarray):
            if index.dtype == bool:
                index = np.flatnonzero(index)
            index = index.tolist()
        if isinstance(index, (list, tuple)):
            picked = [self.masks[i] for i in index]
        elif isinstance(index, slice):
            picked = self.masks[index]
        elif isinstance(index, (int, np.integer)):
            picked = [self.masks[index]]
        else:
            raise ValueError(f"unsupported index of type {type(index).__name__} for PolygonMasks")
        return PolygonMasks(picked, self.height, self.width)

    def __iter__(self):
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        return f"PolygonMasks(num_masks={len(self)}, height={self.height}, width={self.width})"

    # -- vertex bulk helpers -----------------------------------------------------
    def _flat(self) -> tuple[np.ndarray, list[list[int]]]:
        """All vertices as one ``(V, 2)`` array, and each polygon's vertex count."""
        counts = [[len(p) // 2 for p in obj] for obj in self.masks]
        parts = [p.reshape(-1, 2) for obj in self.masks for p in obj]
        xy = np.concatenate(parts, axis=0) if parts else np.zeros((0, 2))
        return xy, counts

    def _with_vertices(self, xy: np.ndarray, counts: list[list[int]], height: int, width: int) -> PolygonMasks:
        out, pos = [], 0
        for obj_counts in counts:
            obj = []
            for n in obj_counts:
                obj.append(xy[pos:pos + n].reshape(-1).copy())
                pos += n
            out.append(obj)
        return PolygonMasks(out, height, width)

    def _map(self, fn, height: int, width: int) -> PolygonMasks:
        xy, counts = self._flat()
        return self._with_vertices(fn(xy.copy()), counts, height, width)

    # -- geometry -------------------------------------------------------------------
    def rescale(self, scale: float | tuple[int, int], interpolation: Any = None) -> PolygonMasks:
        new_w, new_h = rescaled_size(self.width, self.height, scale)
        return self.resize((new_h, new_w))

    def resize(self, out_shape: tuple[int, int], interpolation: Any = None) -> PolygonMasks:
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        sx, sy = out_w / self.width, out_h / self.height
        return self._map(lambda xy: xy * np.array([sx, sy]), out_h, out_w)

    def flip(self, flip_direction: str = "horizontal") -> PolygonMasks:
        """Mirror vertices: ``x' = W - x`` (and/or ``y' = H - y``), matching the box flip."""
        if flip_direction not in _FLIP_DIRECTIONS:
            raise ValueError(f"flip direction must be one of {_FLIP_DIRECTIONS}, got {flip_direction!r}")

        def mirror(xy: np.ndarray) -> np.ndarray:
            if flip_direction in ("horizontal", "diagonal"):
                xy[:, 0] = self.width - xy[:, 0]
            if flip_direction in ("vertical", "diagonal"):
                xy[:, 1] = self.height - xy[:, 1]
            return xy

        return self._map(mirror, self.height, self.width)

    def crop(self, bbox: np.ndarray) -> PolygonMasks:
        """Shift into the crop window; vertices outside it are kept (rasterising clips them)."""
        x1, y1, w, h = _crop_window(bbox, self.width, self.height)
        return self._map(lambda xy: xy - np.array([x1, y1]), h, w)

    def pad(self, out_shape: tuple[int, int], pad_val: int = 0) -> PolygonMasks:
        return PolygonMasks(self.masks, *out_shape)

    def expand(self, expanded_h: int, expanded_w: int, top: int, left: int) -> PolygonMasks:
        return self._map(lambda xy: xy + np.array([left, top]), expanded_h, expanded_w)

    def crop_and_resize(
        self,
        bboxes: np.ndarray | torch.Tensor,
        out_shape: tuple[int, int],
        inds: np.ndarray | torch.Tensor,
        device: str | torch.device = "cpu",
        interpolation: str = "bilinear",
        binarize: bool = True,
    ) -> PolygonMasks:
        """Polygon ``inds[i]`` mapped into box ``i`` scaled to ``out_shape``; ``to_ndarray`` rasterises."""
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0 or len(bboxes) == 0:
            return PolygonMasks([], out_h, out_w)
        if not binarize:
            raise ValueError("polygon masks are binary: binarize=False is not supported")
        boxes = bboxes.detach().cpu().numpy() if isinstance(bboxes, torch.Tensor) else np.asarray(bboxes)
        index = inds.detach().cpu().numpy() if isinstance(inds, torch.Tensor) else np.asarray(inds)
        picked = self[index.astype(np.int64).reshape(-1)]
        xy, counts = picked._flat()
        # one (x1, y1, sx, sy) row per vertex, from the box of the polygon's instance
        per_obj = [sum(c) for c in counts]
        boxes = boxes.reshape(-1, 4).astype(np.float64)
        w = np.maximum(boxes[:, 2] - boxes[:, 0], 1)
        h = np.maximum(boxes[:, 3] - boxes[:, 1], 1)
        scale = np.stack([out_w / np.maximum(w, 0.1), out_h / np.maximum(h, 0.1)], axis=1)
        origin = np.repeat(boxes[:, :2], per_obj, axis=0)
        factor = np.repeat(scale, per_obj, axis=0)
        return picked._with_vertices((xy - origin) * factor, counts, out_h, out_w)

    def translate(
        self,
        out_shape: tuple[int, int],
        offset: float,
        direction: str = "horizontal",
        fill_val: Any = None,
        interpolation: Any = None,
    ) -> PolygonMasks:
        """Shift vertices by ``offset`` along ``direction``, clipped to ``out_shape``."""
        axis = 0 if direction == "horizontal" else 1
        limit = out_shape[1] if axis == 0 else out_shape[0]

        def shift(xy: np.ndarray) -> np.ndarray:
            xy[:, axis] = np.clip(xy[:, axis] + offset, 0, limit)
            return xy

        return self._map(shift, *out_shape)

    def rotate(
        self,
        out_shape: tuple[int, int],
        angle: float,
        center: tuple[float, float] | None = None,
        scale: float = 1.0,
        fill_val: int = 0,
    ) -> PolygonMasks:
        if center is None:
            center = ((self.width - 1) * 0.5, (self.height - 1) * 0.5)
        matrix = cv2.getRotationMatrix2D(center, -angle, scale)
        return self._affine(matrix, out_shape)

    def shear(
        self,
        out_shape: tuple[int, int],
        magnitude: float,
        direction: str = "horizontal",
        border_value: int = 0,
        interpolation: str = "bilinear",
    ) -> PolygonMasks:
        matrix = np.array([[1, magnitude, 0], [0, 1, 0]] if direction == "horizontal" else [[1, 0, 0], [magnitude, 1, 0]],
                          dtype=np.float64)
        return self._affine(matrix, out_shape)

    def _affine(self, matrix: np.ndarray, out_shape: tuple[int, int]) -> PolygonMasks:
        def apply(xy: np.ndarray) -> np.ndarray:
            out = xy @ matrix[:, :2].T + matrix[:, 2]
            out[:, 0] = np.clip(out[:, 0], 0, out_shape[1])
            out[:, 1] = np.clip(out[:, 1], 0, out_shape[0])
            return out

        return self._map(apply, *out_shape)

    # -- conversion -------------------------------------------------------------------
    @property
    def areas(self) -> np.ndarray:
        """Shoelace area per instance (sum over its polygons; holes are not subtracted)."""
        if len(self) == 0:
            return np.zeros(0)
        out = np.zeros(len(self))
        for i, obj in enumerate(self.masks):
            for p in obj:
                x, y = p[0::2], p[1::2]
                out[i] += 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
        return out

    def to_bitmap(self) -> BitmapMasks:
        return BitmapMasks(self.to_ndarray(), self.height, self.width)

    def to_ndarray(self) -> np.ndarray:
        """Rasterise with pycocotools: ``(N, H, W)`` bool."""
        if len(self) == 0:
            return np.empty((0, self.height, self.width), dtype=np.uint8)
        return np.stack([polygon_to_bitmap(obj, self.height, self.width) for obj in self.masks])

    def to_tensor(self, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
        if len(self) == 0:
            return torch.empty((0, self.height, self.width), dtype=dtype, device=device)
        return torch.tensor(self.to_ndarray(), dtype=dtype, device=device)

    def get_bboxes(self) -> np.ndarray:
        """``(N, 4)`` extents of each instance's vertices."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        for i, obj in enumerate(self.masks):
            if obj:
                xy = np.concatenate([p.reshape(-1, 2) for p in obj], axis=0)
                boxes[i, :2] = xy.min(axis=0)
                boxes[i, 2:] = xy.max(axis=0)
        return boxes


def _crop_window(bbox: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x1, y1, w, h)`` of an integer crop box clipped to the image, at least one pixel."""
    box = np.asarray(bbox).reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"crop box must be [x1, y1, x2, y2], got {bbox!r}")
    x1, x2 = np.clip(box[0::2], 0, width)
    y1, y2 = np.clip(box[1::2], 0, height)
    return int(x1), int(y1), int(max(x2 - x1, 1)), int(max(y2 - y1, 1))


def polygon_to_bitmap(polygons: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Rasterise one instance's polygons (their union) to an ``(H, W)`` bool mask."""
    valid = [np.asarray(p, dtype=np.float64) for p in polygons if len(p) >= 6]
    if not valid:
        return np.zeros((height, width), dtype=bool)
    rles = mask_utils.frPyObjects(valid, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def bitmap_to_polygon(bitmap: np.ndarray) -> tuple[list[np.ndarray], bool]:
    """Contours ``(n, 2)`` of a binary mask and whether it has holes."""
    found = cv2.findContours(np.ascontiguousarray(bitmap).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    contours, hierarchy = found[-2], found[-1]
    if hierarchy is None:
        return [], False
    with_hole = bool((hierarchy.reshape(-1, 4)[:, 3] >= 0).any())
    return [c.reshape(-1, 2) for c in contours], with_hole


__all__ = ["BitmapMasks", "PolygonMasks", "polygon_to_bitmap", "bitmap_to_polygon", "rescaled_size", "rescale_factor"]
