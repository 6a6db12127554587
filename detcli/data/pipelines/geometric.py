"""Geometric transforms that keep image, boxes, masks and segmentation maps aligned:
Resize, RandomFlip, Pad, SegRescale."""

from __future__ import annotations

from typing import Any

import numpy as np

from detcli.data.pipelines.image_ops import imflip, impad, impad_to_multiple, imrescale, imresize
from detcli.registry import PIPELINES
from detcli.structures.boxes import bbox_flip

_DIRECTIONS = ("horizontal", "vertical", "diagonal")


def _as_scale_list(img_scale: Any) -> list[tuple[int, int]] | None:
    if img_scale is None:
        return None
    scales = img_scale if isinstance(img_scale, list) else [img_scale]
    out = []
    for s in scales:
        if not (isinstance(s, (tuple, list)) and len(s) == 2):
            raise ValueError(f"img_scale entries must be (long, short) or (w, h) pairs, got {s!r}")
        out.append(tuple(s))
    return out


@PIPELINES.register_module()
class Resize:
    """Resize the image and everything registered in ``bbox/mask/seg_fields``.

    The target scale is, in order of precedence: ``results['scale']`` (set by
    MultiScaleFlipAug), ``results['scale_factor']`` (a float), or one drawn from
    ``img_scale``: a random ratio of ``img_scale[0]`` when ``ratio_range`` is set, the
    only scale, a random (long, short) pair between two scales (``'range'``) or a random
    one of the list (``'value'``). ``keep_ratio`` treats a scale as (long edge, short edge);
    otherwise it is the exact (w, h).
    """

    def __init__(self, img_scale: Any = None, multiscale_mode: str = "range", ratio_range: tuple | None = None,
                 keep_ratio: bool = True, bbox_clip_border: bool = True, backend: str = "cv2",
                 interpolation: str = "bilinear", override: bool = False) -> None:
        self.img_scale = _as_scale_list(img_scale)
        if ratio_range is not None:
            if self.img_scale is None or len(self.img_scale) != 1:
                raise ValueError("Resize with ratio_range needs exactly one img_scale")
        elif multiscale_mode not in ("value", "range"):
            raise ValueError(f"multiscale_mode must be 'value' or 'range', got {multiscale_mode!r}")
        if backend != "cv2":
            raise ValueError(f"Resize supports backend='cv2' only, got {backend!r}")
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.bbox_clip_border = bbox_clip_border
        self.backend = backend
        self.interpolation = interpolation
        self.override = override

    # -- choosing the scale -----------------------------------------------------
    @staticmethod
    def random_select(img_scales: list[tuple[int, int]]) -> tuple[tuple[int, int], int]:
        idx = np.random.randint(len(img_scales))
        return img_scales[idx], idx

    @staticmethod
    def random_sample(img_scales: list[tuple[int, int]]) -> tuple[tuple[int, int], None]:
        if len(img_scales) != 2:
            raise ValueError("multiscale_mode='range' needs exactly two img_scales")
        longs = [max(s) for s in img_scales]
        shorts = [min(s) for s in img_scales]
        long_edge = np.random.randint(min(longs), max(longs) + 1)
        short_edge = np.random.randint(min(shorts), max(shorts) + 1)
        return (long_edge, short_edge), None

    @staticmethod
    def random_sample_ratio(img_scale: tuple[int, int], ratio_range: tuple[float, float]) -> tuple[tuple[int, int], None]:
        lo, hi = ratio_range
        if lo > hi:
            raise ValueError(f"ratio_range must be (min, max), got {ratio_range}")
        ratio = np.random.random_sample() * (hi - lo) + lo
        return (int(img_scale[0] * ratio), int(img_scale[1] * ratio)), None

    def _random_scale(self, results: dict[str, Any]) -> None:
        if self.img_scale is None:
            raise ValueError("Resize has no img_scale and the sample has no 'scale' or 'scale_factor'")
        if self.ratio_range is not None:
            scale, idx = self.random_sample_ratio(self.img_scale[0], self.ratio_range)
        elif len(self.img_scale) == 1:
            scale, idx = self.img_scale[0], 0
        elif self.multiscale_mode == "range":
            scale, idx = self.random_sample(self.img_scale)
        else:
            scale, idx = self.random_select(self.img_scale)
        results["scale"] = scale
        results["scale_idx"] = idx

    # -- applying it ------------------------------------------------------------
    def _resize_img(self, results: dict[str, Any]) -> None:
        for key in results.get("img_fields", ["img"]):
            src = results[key]
            h, w = src.shape[:2]
            if self.keep_ratio:
                img, _ = imrescale(src, results["scale"], self.interpolation)
            else:
                img = imresize(src, results["scale"], self.interpolation)
            new_h, new_w = img.shape[:2]
            w_scale, h_scale = new_w / w, new_h / h
            results[key] = img
            results["img_shape"] = img.shape
            results["pad_shape"] = img.shape
            results["scale_factor"] = np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)
            results["keep_ratio"] = self.keep_ratio

    def _resize_bboxes(self, results: dict[str, Any]) -> None:
        h, w = results["img_shape"][:2]
        for key in results.get("bbox_fields", []):
            bboxes = results[key] * results["scale_factor"]
            if self.bbox_clip_border:
                bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, w)
                bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, h)
            results[key] = bboxes

    def _resize_masks(self, results: dict[str, Any]) -> None:
        for key in results.get("mask_fields", []):
            if results[key] is None:
                continue
            if self.keep_ratio:
                results[key] = results[key].rescale(results["scale"])
            else:
                results[key] = results[key].resize(results["img_shape"][:2])

    def _resize_seg(self, results: dict[str, Any]) -> None:
        for key in results.get("seg_fields", []):
            if self.keep_ratio:
                results[key], _ = imrescale(results[key], results["scale"], "nearest")
            else:
                results[key] = imresize(results[key], results["scale"], "nearest")

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "scale" not in results:
            if "scale_factor" in results:
                factor = results["scale_factor"]
                if not isinstance(factor, float):
                    raise TypeError(f"results['scale_factor'] must be a float to set the scale, got {factor!r}")
                h, w = results["img"].shape[:2]
                results["scale"] = (int(w * factor), int(h * factor))
            else:
                self._random_scale(results)
        elif self.override:
            results.pop("scale")
            results.pop("scale_factor", None)
            self._random_scale(results)
        elif "scale_factor" in results:
            raise ValueError("Resize got both 'scale' and 'scale_factor'; set override=True to resample")
        self._resize_img(results)
        self._resize_bboxes(results)
        self._resize_masks(results)
        self._resize_seg(results)
        return results

    def __repr__(self) -> str:
        return (f"Resize(img_scale={self.img_scale}, multiscale_mode={self.multiscale_mode}, "
                f"ratio_range={self.ratio_range}, keep_ratio={self.keep_ratio}, "
                f"bbox_clip_border={self.bbox_clip_border})")


@PIPELINES.register_module()
class RandomFlip:
    """Flip with probability ``flip_ratio`` (one ratio per direction when a list).

    A preset ``results['flip']``/``['flip_direction']`` (MultiScaleFlipAug) is obeyed.
    """

    def __init__(self, flip_ratio: float | list[float] | None = None, direction: str | list[str] = "horizontal") -> None:
        if isinstance(flip_ratio, list):
            if not all(isinstance(r, (int, float)) for r in flip_ratio) or not 0 <= sum(flip_ratio) <= 1:
                raise ValueError(f"flip_ratio list must hold floats summing to at most 1, got {flip_ratio}")
        elif isinstance(flip_ratio, (int, float)):
            if not 0 <= flip_ratio <= 1:
                raise ValueError(f"flip_ratio must be in [0, 1], got {flip_ratio}")
        elif flip_ratio is not None:
            raise ValueError(f"flip_ratio must be None, a float or a list of floats, got {flip_ratio!r}")
        directions = [direction] if isinstance(direction, str) else list(direction)
        if not set(directions) <= set(_DIRECTIONS):
            raise ValueError(f"direction must be in {_DIRECTIONS}, got {direction!r}")
        if isinstance(flip_ratio, list) and len(flip_ratio) != len(directions):
            raise ValueError("flip_ratio and direction lists must have the same length")
        self.flip_ratio = flip_ratio
        self.direction = direction

    def _draw(self) -> str | None:
        directions = (self.direction if isinstance(self.direction, list) else [self.direction]) + [None]
        if isinstance(self.flip_ratio, list):
            probs = list(self.flip_ratio) + [1 - sum(self.flip_ratio)]
        else:
            ratio = self.flip_ratio or 0.0
            probs = [ratio / (len(directions) - 1)] * (len(directions) - 1) + [1 - ratio]
        return np.random.choice(np.array(directions, dtype=object), p=probs)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "flip" not in results:
            chosen = self._draw()
            results["flip"] = chosen is not None
            results.setdefault("flip_direction", chosen)
        elif "flip_direction" not in results:
            results["flip_direction"] = self.direction if isinstance(self.direction, str) else self.direction[0]
        if results["flip"]:
            direction = results["flip_direction"]
            for key in results.get("img_fields", ["img"]):
                results[key] = imflip(results[key], direction)
            for key in results.get("bbox_fields", []):
                results[key] = bbox_flip(results[key], results["img_shape"], direction)
            for key in results.get("mask_fields", []):
                results[key] = results[key].flip(direction)
            for key in results.get("seg_fields", []):
                results[key] = imflip(results[key], direction)
        return results

    def __repr__(self) -> str:
        return f"RandomFlip(flip_ratio={self.flip_ratio}, direction={self.direction!r})"


@PIPELINES.register_module()
class Pad:
    """Pad bottom/right to a fixed ``size`` (h, w), a multiple of ``size_divisor``, or a square.

    ``pad_val`` is a dict ``img/masks/seg`` (a number means that value for image and masks).
    """

    def __init__(self, size: tuple[int, int] | None = None, size_divisor: int | None = None,
                 pad_to_square: bool = False, pad_val: dict | float | None = None) -> None:
        if pad_val is None:
            pad_val = dict(img=0, masks=0, seg=255)
        if isinstance(pad_val, (int, float)):
            pad_val = dict(img=pad_val, masks=pad_val, seg=255)
        if not isinstance(pad_val, dict):
            raise ValueError(f"pad_val must be a number or a dict(img=, masks=, seg=), got {pad_val!r}")
        if pad_to_square:
            if size is not None or size_divisor is not None:
                raise ValueError("Pad: size and size_divisor must be None when pad_to_square=True")
        elif (size is None) == (size_divisor is None):
            raise ValueError("Pad needs exactly one of size and size_divisor")
        self.size = size
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        self.pad_val = pad_val

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img_val = self.pad_val.get("img", 0)
        size = self.size
        padded = None
        for key in results.get("img_fields", ["img"]):
            img = results[key]
            if self.pad_to_square:
                size = (max(img.shape[:2]),) * 2
            if size is not None:
                padded = impad(img, size, img_val)
            else:
                padded = impad_to_multiple(img, self.size_divisor, img_val)
            results[key] = padded
        results["pad_shape"] = padded.shape
        results["pad_fixed_size"] = size
        results["pad_size_divisor"] = self.size_divisor
        pad_hw = padded.shape[:2]
        for key in results.get("mask_fields", []):
            results[key] = results[key].pad(pad_hw, pad_val=self.pad_val.get("masks", 0))
        for key in results.get("seg_fields", []):
            results[key] = impad(results[key], pad_hw, self.pad_val.get("seg", 255))
        return results

    def __repr__(self) -> str:
        return (f"Pad(size={self.size}, size_divisor={self.size_divisor}, pad_to_square={self.pad_to_square}, "
                f"pad_val={self.pad_val})")


@PIPELINES.register_module()
class SegRescale:
    """Rescale the segmentation maps by ``scale_factor`` (nearest), e.g. to the head's stride."""

    def __init__(self, scale_factor: float = 1, backend: str = "cv2") -> None:
        self.scale_factor = scale_factor
        self.backend = backend

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if self.scale_factor != 1:
            for key in results.get("seg_fields", []):
                results[key], _ = imrescale(results[key], self.scale_factor, "nearest")
        return results

    def __repr__(self) -> str:
        return f"SegRescale(scale_factor={self.scale_factor})"
