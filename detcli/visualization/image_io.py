"""Reading images users hand to the drawing functions, and writing results atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

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


def write_image(img: np.ndarray, out_file: str | os.PathLike) -> None:
    """Encode by the file's extension and write it atomically (parent folders are created)."""
    import cv2

    path = Path(out_file)
    ext = path.suffix or ".png"
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise DataError(f"cannot encode an image as {ext!r}: {path}", hint="use .jpg or .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
