"""Image operations the transforms share (OpenCV based, numerics as mmcv 1.x)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from detcli.structures.masks import rescale_factor, rescaled_size

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def imresize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize to ``size = (w, h)``."""
    return cv2.resize(img, (int(size[0]), int(size[1])), interpolation=INTERPOLATIONS[interpolation])


def imrescale(img: np.ndarray, scale: float | tuple[int, int], interpolation: str = "bilinear") -> tuple[np.ndarray, float]:
    """Keep-ratio resize by a factor or into a (long, short) edge pair; returns the image and the factor."""
    h, w = img.shape[:2]
    return imresize(img, rescaled_size(w, h, scale), interpolation), rescale_factor(w, h, scale)


def imflip(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    if direction == "horizontal":
        return np.flip(img, axis=1)
    if direction == "vertical":
        return np.flip(img, axis=0)
    if direction == "diagonal":
        return np.flip(img, axis=(0, 1))
    raise ValueError(f"flip direction must be horizontal, vertical or diagonal, got {direction!r}")


def impad(img: np.ndarray, shape: tuple[int, int], pad_val: float | tuple = 0) -> np.ndarray:
    """Pad at the bottom and right to ``shape = (h, w)`` (never crops)."""
    h, w = max(int(shape[0]), img.shape[0]), max(int(shape[1]), img.shape[1])
    if (h, w) == img.shape[:2]:
        return img
    out = np.empty((h, w, *img.shape[2:]), dtype=img.dtype)
    out[...] = pad_val
    out[:img.shape[0], :img.shape[1]] = img
    return out


def impad_to_multiple(img: np.ndarray, divisor: int, pad_val: float | tuple = 0) -> np.ndarray:
    h = int(np.ceil(img.shape[0] / divisor)) * divisor
    w = int(np.ceil(img.shape[1] / divisor)) * divisor
    return impad(img, (h, w), pad_val)


def imnormalize(img: np.ndarray, mean: np.ndarray, std: np.ndarray, to_rgb: bool = True) -> np.ndarray:
    """``(img - mean) / std`` in float32, after BGR->RGB when ``to_rgb`` (a new array).

    A 3-channel uint8 image goes through a 256-entry table per channel (one pass instead of
    four); the table holds what the float path gives for each value, so results are identical.
    """
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and np.size(mean) == 3 and np.size(std) == 3:
        table = _normalize_table(tuple(np.asarray(mean, np.float64).ravel()), tuple(np.asarray(std, np.float64).ravel()))
        return cv2.LUT(cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if to_rgb else img, table)
    return _imnormalize_float(img, mean, std, to_rgb)


@functools.lru_cache(maxsize=16)
def _normalize_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(1, 256, 3)`` float32: the normalised value of every uint8 level, per channel."""
    levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), 3, axis=2)
    return _imnormalize_float(levels, np.array(mean), np.array(std), to_rgb=False)


def _imnormalize_float(img: np.ndarray, mean: np.ndarray, std: np.ndarray, to_rgb: bool) -> np.ndarray:
    out = np.array(img, dtype=np.float32, order="C")  # always a copy, and one OpenCV can write into
    if to_rgb:
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, out)
    # OpenCV with float64 operands rounds like mmcv; numpy would differ in the last bit
    cv2.subtract(out, np.float64(np.asarray(mean).reshape(1, -1)), out)
    cv2.multiply(out, 1 / np.float64(np.asarray(std).reshape(1, -1)), out)
    return out


def imdenormalize(img: np.ndarray, mean: np.ndarray, std: np.ndarray, to_bgr: bool = True) -> np.ndarray:
    """Undo ``imnormalize`` (for showing pipeline outputs)."""
    out = img.astype(np.float32) * np.asarray(std, np.float32).reshape(1, -1) + np.asarray(mean, np.float32).reshape(1, -1)
    if to_bgr:
        out = np.ascontiguousarray(out[..., ::-1])
    return out


def bgr2hsv(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2HSV)


def hsv2bgr(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
