"""Matplotlib figures of the tools (log curves, error analysis, report pages): headless
drawing, and saving a figure whole under the format its file name asks for."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from detcli.atomic_write import atomic_open
from detcli.errors import DetError


def headless_pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: figures are drawn to files, no window opens."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out: str | os.PathLike, dpi: int = 120) -> str:
    """Save ``fig`` atomically in the format of ``out``'s extension, then close it; returns ``out``.

    An extension matplotlib cannot write fails before anything is written.
    """
    import matplotlib.pyplot as plt

    target = Path(out)
    fmt = target.suffix.lstrip(".").lower()
    supported = fig.canvas.get_supported_filetypes()
    try:
        if fmt not in supported:
            raise DetError(f"cannot save a figure as {target.name}: unknown format {fmt!r}",
                           hint=f"end --out with one of {', '.join('.' + k for k in sorted(supported))}")
        with atomic_open(target, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi)
    finally:
        plt.close(fig)
    return str(target)


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """The PNG bytes of ``fig`` (to embed in a page), then close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()
