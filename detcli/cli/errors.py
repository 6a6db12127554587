"""How the CLI reports failures: one red line (and a hint), a traceback only with --debug.

Messages and hints are escaped: they quote paths, keys and commands such as
``pip install 'detcli[optional]'``, whose brackets rich would otherwise read as markup.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape

from detcli.errors import DetError

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)

# Errors that are the user's input, not a bug: shown without a traceback.
_USER_ERRORS = (DetError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def report(err: BaseException, debug: bool) -> int:
    """Print ``err`` for a user and return the process exit code."""
    if isinstance(err, KeyboardInterrupt):
        _stderr.print("[red]Interrupted.[/red]")
        return 130
    if debug or os.environ.get("DETCLI_DEBUG"):
        import traceback

        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
        return 1
    name = "" if isinstance(err, _USER_ERRORS) else f"{type(err).__name__}: "
    _stderr.print(f"[red]error:[/red] {escape(name + str(err))}")
    hint = getattr(err, "hint", None)
    if hint:
        _stderr.print(f"[dim]hint: {escape(str(hint))}[/dim]")
    if not isinstance(err, _USER_ERRORS):
        _stderr.print("[dim]run with --debug for the traceback[/dim]")
    return 1
