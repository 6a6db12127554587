"""The project's error types.

Every error a user can cause (a bad config, a missing file, an unknown type) is a
``DetError``: the CLI prints it as one red line, with its hint, instead of a traceback.
"""

from __future__ import annotations


class DetError(Exception):
    """A user-facing error: ``str(err)`` is the one line to print; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
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
