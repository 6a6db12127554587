"""Writing output files whole or not at all: a temp file beside the target, then one rename.

A run that is stopped (Ctrl-C, a full disk, a crash) mid-write leaves the previous file, or
none, never half of one that a later step would misread. Every output of the project
(results, checkpoints, figures, pages, images, videos, ONNX graphs) goes through here.

The temp file sits in the target's folder (``os.replace`` is atomic only within one file
system), is named ``.<name>.tmp-<pid>-<random><ext>`` (it keeps the target's extension, by
which writers such as OpenCV's pick the format; the pid tells a clean-up whether its writer
is still running) and is created with the usual mode (``0o666`` less the umask), not
``mkstemp``'s private 0600.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# the random part and extension are absent in the temp names of detcli 0.x checkpoint saves
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)(?:-[0-9a-f]{8}(?:\.[^.]*)?)?$")


def temp_file_writer(name: str) -> tuple[str, int] | None:
    """``(target name, writer pid)`` when ``name`` is one of this module's temp files, else None.

    A temp file whose writer is gone was left by a write that was killed mid-way; the older
    ``.<name>.tmp-<pid>`` form of earlier checkpoint saves is recognised too.
    """
    match = _TEMP_NAME.match(name)
    return (match["name"], int(match["pid"])) if match else None


def temp_beside(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """Create an empty, new temp file in ``path``'s folder (created if needed) and return its path.

    It ends with ``suffix`` (default: ``path``'s extension). Move it over ``path`` with
    ``os.replace`` once written, or delete it; ``atomic_path`` does both for a ``with`` block.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path to write by name; when the block ends without error it replaces ``path``.

    For writers that want a file name (``cv2.VideoWriter``, ``torch.onnx.export``); ``suffix``
    as in ``temp_beside``. On an exception the temp file is removed and ``path`` is untouched.
    """
    target = Path(path)
    tmp = temp_beside(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = None,
                fsync: bool = False) -> Iterator[IO[Any]]:
    """``open(path, mode)`` on a temp file that replaces ``path`` once the block ends without error.

    ``fsync=True`` flushes the data to the disk before the rename (checkpoints: a power cut
    right after the rename must not leave an empty file under the final name).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` (utf-8) to ``path`` atomically, creating its folder."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` atomically, creating its folder."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def dump_json_atomic(obj: Any, path: str | os.PathLike, **json_kwargs: Any) -> None:
    """``json.dump(obj, ...)`` to ``path`` atomically; ``json_kwargs`` go to ``json.dump``."""
    with atomic_open(path, "w") as handle:
        json.dump(obj, handle, **json_kwargs)


__all__ = ["atomic_open", "atomic_path", "dump_json_atomic", "temp_beside", "temp_file_writer",
           "write_bytes_atomic", "write_text_atomic"]
