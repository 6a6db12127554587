"""Reading images users hand to the drawing functions, and writing results atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from detcli.atomic_write import write_bytes_atomic
from detcli.errors import DataError


def read_bgr(img: str | os.PathLike | np.ndarray) -> np.ndarray:
    """A uint8 BGR image from a path or an array (arrays are taken as BGR, as OpenCV gives them)."""
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            import cv2

            return cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_GRAY2BGR)
        return np.ascontiguousarray(img[..., :3]).astype(np.uint8)
    import cv2

    path = Path(img)
    if not path.is_file():
        raise DataError(f"image not found: {path}", hint="check the path")
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        raise DataError(f"cannot decode image: {path}", hint="is it an image file OpenCV can read?")
    return data


def write_image(img: np.ndarray, out_file: str | os.PathLike, params: list[int] | None = None) -> None:
    """Encode by the file's extension (``params``: OpenCV's ``IMWRITE_*`` pairs) and write it
    atomically, creating parent folders."""
    import cv2

    path = Path(out_file)
    ext = path.suffix or ".png"
    ok, buf = cv2.imencode(ext, img, params or [])
    if not ok:
        raise DataError(f"cannot encode an image as {ext!r}: {path}", hint="use .jpg or .png")
    write_bytes_atomic(buf.tobytes(), path)
