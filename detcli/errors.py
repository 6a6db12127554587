"""The project's error types.

Every error a user can cause (a bad config, a missing file, an unknown type) is a
``DetError``: the CLI prints it as one red line, with its hint, instead of a traceback.
"""

from __future__ import annotations

import re
from typing import Any

# How torch re-raises an exception of a DataLoader worker in the main process: the same type,
# built from one string holding the worker's whole traceback.
_WORKER_RERAISE = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback")


def _without_worker_traceback(message: Any) -> Any:
    """The original one-line message of an error re-raised from a DataLoader worker."""
    if not (isinstance(message, str) and _WORKER_RERAISE.match(message)):
        return message
    last = message.rstrip().splitlines()[-1]
    _, sep, text = last.partition(": ")
    return f"in a data loader worker: {text}" if sep else last


class DetError(Exception):
    """A user-facing error: ``str(err)`` is the one line to print; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(_without_worker_traceback(message))
        self.hint = hint

    def __str__(self) -> str:  # KeyError subclasses would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(DetError, ValueError):
    """A config file or override that cannot be read or merged."""


class RegistryError(DetError, KeyError):
    """An unknown ``type`` or a malformed build cfg."""


class DataError(DetError, ValueError):
    """A dataset, annotation or image that cannot be read."""


class CheckpointError(DetError, ValueError):
    """A checkpoint that cannot be read or does not fit the model."""
