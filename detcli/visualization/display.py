"""Opening windows, and failing with one clear line where no window can be opened.

OpenCV's Qt backend aborts the whole process (not an exception) when there is no
display, so availability is checked *before* any window call.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

import numpy as np

from detcli.errors import DetError


class DisplayError(DetError, RuntimeError):
    """A window was asked for where none can be shown (no display, headless OpenCV)."""


@lru_cache(maxsize=1)
def _opencv_has_gui() -> bool:
    import cv2

    info = cv2.getBuildInformation()
    gui = info.split("GUI:", 1)[1].splitlines()[0].strip() if "GUI:" in info else ""
    return gui.upper() not in ("NONE", "")


def display_problem() -> str | None:
    """Why no window can be opened here, or None when one can."""
    if sys.platform.startswith("linux"):
        platform = os.environ.get("QT_QPA_PLATFORM", "")
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or platform):
            return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    if not _opencv_has_gui():
        return "this OpenCV build has no GUI support (opencv-python-headless?)"
    return None


def require_display(what: str = "showing images") -> None:
    """Raise a one-line DisplayError when ``what`` needs a window that cannot be opened."""
    problem = display_problem()
    if problem is not None:
        raise DisplayError(
            f"cannot open a window for {what}: {problem}",
            hint="save images instead (--show-dir / --out-dir / out_file=...), or run where a display is available",
        )


def show_image(img: np.ndarray, win_name: str = "", wait_time: float = 0) -> int:
    """Show a BGR image; wait ``wait_time`` seconds (0: until a key). Returns the key code (-1: none)."""
    require_display()
    import cv2

    name = win_name or "detcli"
    cv2.imshow(name, img)
    delay = 0 if wait_time == 0 else max(1, int(round(wait_time * 1000)))
    return cv2.waitKey(delay)
