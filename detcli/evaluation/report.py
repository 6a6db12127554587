"""Where evaluation summaries go: a ``logging.Logger``, the terminal, or nowhere.

mmdetection 2.x evaluation functions take ``logger``: None prints to stdout, the
string ``'silent'`` prints nothing, a Logger receives the text. Tables are rich
tables, rendered as plain text when they go to a logger or a non-terminal. Texts are
never read as rich markup: class names, paths and messages may hold ``[brackets]``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

LoggerLike = logging.Logger | str | None


def make_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
               footer: Sequence[Any] | None = None) -> Table:
    """A rich table; numeric columns are right-aligned, the optional ``footer`` row is set apart."""
    table = Table(title=Text(title) if title is not None else None, show_footer=False, header_style="bold")
    for i, name in enumerate(headers):
        table.add_column(Text(str(name)), justify="left" if i == 0 else "right")
    for j, row in enumerate(rows):
        table.add_row(*(Text(str(v)) for v in row), end_section=footer is not None and j == len(rows) - 1)
    if footer is not None:
        table.add_row(*(Text(str(v)) for v in footer), style="bold")
    return table


def render_text(renderable: Any, width: int = 120) -> str:
    """Plain text of a rich renderable (for log files)."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, highlight=False, force_terminal=False).print(renderable)
    return buf.getvalue().rstrip("\n")


def emit(renderable: Any, logger: LoggerLike = None) -> None:
    """Send a message or a table to ``logger`` (None: stdout; 'silent': nowhere)."""
    if logger == "silent":
        return
    if isinstance(logger, logging.Logger):
        text = renderable if isinstance(renderable, str) else render_text(renderable)
        logger.info("\n" + text if "\n" in text else text)
        return
    if isinstance(logger, str):
        logging.getLogger(logger).info(renderable if isinstance(renderable, str) else render_text(renderable))
        return
    Console(highlight=False, soft_wrap=isinstance(renderable, str)).print(renderable, markup=False)
