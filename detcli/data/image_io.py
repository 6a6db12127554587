"""Reading images with OpenCV, with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from detcli.errors import DataError


class UnreadableImageError(DataError):
    """An image file that is missing or cannot be decoded (datasets may skip these)."""


_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
    "color_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR,
    "grayscale_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_GRAYSCALE,
}


def imfrombytes(content: bytes, flag: str | int = "color", channel_order: str = "bgr") -> np.ndarray | None:
    """Decode encoded image bytes (``None`` when OpenCV cannot decode them)."""
    cv_flag = _FLAGS[flag] if isinstance(flag, str) else flag
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv_flag)
    if img is not None and channel_order == "rgb" and img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def imread(img_or_path: np.ndarray | str | os.PathLike, flag: str | int = "color", channel_order: str = "bgr") -> np.ndarray:
    """An image as an ``HxW[xC]`` uint8 array (BGR by default); arrays pass through unchanged.

    Raises ``DataError`` naming the file when it is missing or not a decodable image.
    """
    if isinstance(img_or_path, np.ndarray):
        return img_or_path
    if not isinstance(img_or_path, (str, os.PathLike)):
        raise TypeError(f"imread expects an array or a path, got {type(img_or_path).__name__}")
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    path = Path(img_or_path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImageError(f"image file not found: {path}", hint="check img_prefix/data_root and the file names "
                        "in the annotation file") from None
    except IsADirectoryError:
        raise DataError(f"expected an image file, got a directory: {path}") from None
    img = imfrombytes(content, flag, channel_order) if content else None
    if img is None:
        raise UnreadableImageError(f"cannot decode image {path} ({len(content)} bytes): not an image format OpenCV reads",
                        hint="re-export the file as PNG or JPEG")
    return img
