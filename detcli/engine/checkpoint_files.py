"""Checkpoint files on disk: what is not a checkpoint, what an interrupted save left behind,
which checkpoint a run can continue from, and what a failed write means for the user.

``torch.save`` writes a zip archive (a pickle inside); torch 1.5 and older wrote a bare
pickle. Anything else (an empty file, random bytes, an HTML error page saved as ``.pth``)
is not a checkpoint, and saying so beats quoting the unpickler's confusion.
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import re
import zipfile

from detcli.atomic_write import temp_file_writer
from detcli.errors import CheckpointError

_PICKLE_MAGIC = b"\x80"  # protocol 2+ pickles start with PROTO; torch's legacy format is one
_ZIP_MAGIC = b"PK\x03\x04"
_NUMBERED = re.compile(r"^(?:epoch|iter)_(\d+)\.pth$")


def _bytes_problem(path: str) -> tuple[str, str] | None:
    """(short reason, what it means) when ``path`` cannot be a checkpoint, else None."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if size == 0 or not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_MAGIC)):
        return (f"not a checkpoint ({size} bytes)",
                "torch.save writes a zip archive or a pickle, this file is neither")
    if head.startswith(_ZIP_MAGIC) and not zipfile.is_zipfile(path):
        return (f"a truncated or damaged checkpoint ({size} bytes)", "its zip directory is missing")
    return None


def check_checkpoint_bytes(path: str, shown: str | None = None) -> None:
    """Raise ``CheckpointError`` when ``path`` cannot be a checkpoint: empty, neither a zip archive
    nor a pickle, or a zip archive cut short (a save or copy that did not finish)."""
    problem = _bytes_problem(path)
    if problem is not None:
        raise CheckpointError(f"{shown or path} is {problem[0]}: {problem[1]}",
                              hint="check the path, or copy/download the checkpoint again")


def remove_stale_temp_files(work_dir: str, log: logging.Logger | None = None) -> list[str]:
    """Delete the temp files of checkpoint saves killed mid-write (``detcli.atomic_write`` names
    them) from ``work_dir``; those of a process still running are kept. Returns the removed paths."""
    if not os.path.isdir(work_dir):
        return []
    removed, freed = [], 0
    for name in sorted(os.listdir(work_dir)):
        writer = temp_file_writer(name)
        if writer is None or not writer[0].endswith(".pth") or _process_alive(writer[1]):
            continue
        path = os.path.join(work_dir, name)
        try:
            freed += os.lstat(path).st_size
            os.remove(path)
        except FileNotFoundError:  # another process cleaned it first
            continue
        removed.append(path)
    if removed:
        (log or logging.getLogger("detcli")).info(
            "removed %d temp file(s) of interrupted checkpoint saves from %s (%.1f MB)",
            len(removed), work_dir, freed / 2**20)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _unreadable_reason(path: str) -> str | None:
    """Why ``path`` cannot be resumed from (None: it loads); reads the index, not the tensors."""
    import torch

    problem = _bytes_problem(path)
    if problem is not None:
        return problem[0]
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as err:
        first_line = (str(err).splitlines() or ["unreadable"])[0][:120]
        return f"{type(err).__name__}: {first_line}"
    return None


def resumable_candidates(work_dir: str) -> list[str]:
    """``latest.pth``, then ``epoch_N``/``iter_N`` newest first: the order ``--auto-resume`` tries."""
    if not os.path.isdir(work_dir):
        return []
    numbered = [os.path.join(work_dir, f) for f in os.listdir(work_dir) if _NUMBERED.match(f)]
    numbered.sort(key=lambda p: (os.path.getmtime(p), int(_NUMBERED.match(os.path.basename(p))[1])), reverse=True)
    latest = os.path.join(work_dir, "latest.pth")
    head = [latest] if os.path.isfile(latest) else []
    target = os.path.realpath(latest) if head else None
    return head + [p for p in numbered if os.path.realpath(p) != target]


def find_resumable_checkpoint(work_dir: str, log: logging.Logger | None = None, warn: bool = True) -> str | None:
    """The newest checkpoint of ``work_dir`` that loads; those skipped are logged with their reasons."""
    log = log or logging.getLogger("detcli")
    skipped = []
    for path in resumable_candidates(work_dir):
        reason = _unreadable_reason(path)
        if reason is None:
            if skipped and warn:
                log.warning("auto-resume: %s cannot be read (%s); continuing from %s, the newest checkpoint "
                            "that loads", ", ".join(_shown(p) for p, _ in skipped),
                            "; ".join(r for _, r in skipped), path)
            return path
        skipped.append((path, reason))
    if skipped:
        names = ", ".join(f"{_shown(p)} ({r})" for p, r in skipped)
        raise CheckpointError(f"--auto-resume: no checkpoint in {work_dir} can be read: {names}",
                              hint="start afresh without --auto-resume (or in another --work-dir)")
    return None


def _shown(path: str) -> str:
    """``latest.pth -> epoch_2.pth`` for the link, the file name otherwise."""
    name = os.path.basename(path)
    return f"{name} -> {os.path.basename(os.path.realpath(path))}" if os.path.islink(path) else name


def previous_checkpoint_note(filename: str) -> str:
    """What a failed save leaves intact, e.g. 'the previous checkpoint latest.pth -> epoch_2.pth is intact'."""
    directory = os.path.dirname(os.path.abspath(filename))
    if os.path.isfile(filename):
        return f"the previous {os.path.basename(filename)} is intact"
    candidates = [p for p in resumable_candidates(directory) if os.path.abspath(p) != os.path.abspath(filename)]
    if not candidates:
        return "no earlier checkpoint exists in that folder"
    return f"the previous checkpoint {_shown(candidates[0])} is intact"


def write_failure(filename: str, err: OSError) -> CheckpointError:
    """The error for a checkpoint write that failed with ``err`` (disk full, read-only, quota)."""
    note = previous_checkpoint_note(filename)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return CheckpointError(f"no space left on device while writing {filename}; {note}",
                               hint="free space on that disk (old checkpoints, logs) or choose another --work-dir, "
                                    "then continue with --auto-resume")
    return CheckpointError(f"cannot write checkpoint {filename}: {err.strerror or err}; {note}",
                           hint="choose a writable --work-dir with free space")


__all__ = ["check_checkpoint_bytes", "remove_stale_temp_files", "find_resumable_checkpoint",
           "resumable_candidates", "previous_checkpoint_note", "write_failure"]
