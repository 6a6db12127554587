"""``--unsafe-load``: the one CLI switch that lets a checkpoint be unpickled in full.

Checkpoints are read weights-only by default: a file that also pickles other objects
(as mmdetection 1.x checkpoints and some older tools' do) is refused with a hint. Commands
that read checkpoints take this flag to accept such a file knowingly; it prints a warning,
because unpickling executes whatever code the file names.
"""

from __future__ import annotations

from typing import Any

import typer


def unsafe_load_option() -> Any:
    """``--unsafe-load``: read checkpoints with ``weights_only=False`` (trusted files only)."""
    return typer.Option(
        False, "--unsafe-load",
        help="Read checkpoints that pickle more than weights (e.g. mmdetection 1.x ones). "
             "Unpickling executes code from the file: use it only for files you trust.",
    )


def apply_unsafe_load(enabled: bool) -> None:
    """Switch full unpickling on for this process and the ones it starts (prints the warning)."""
    if enabled:
        from detcli.engine.checkpoint import allow_unsafe_load

        allow_unsafe_load()
