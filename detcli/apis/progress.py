"""A progress bar with rate and ETA: rich on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


def rich_progress(*middle: Any, **kwargs: Any) -> Any:
    """A rich ``Progress`` laid out as ``description bar n/N <middle columns> elapsed ETA remaining``.

    One layout for every bar of the project (tests, inference, data, the training hook).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), *middle,
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), **kwargs)


class _Counter:
    """Counts finished items; ``rate`` is items per second since the start. Shows nothing."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.done = 0

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n

    def close(self) -> None:
        pass


class _PlainProgress(_Counter):
    """For logs and pipes: one line per ~10 % (and at the end), never a redraw."""

    def __init__(self, total: int, description: str, unit: str, stream: TextIO) -> None:
        super().__init__()
        self.total, self.description, self.unit, self.stream = total, description, unit, stream
        self._next_report = max(total // 10, 1)

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        if self.done >= self._next_report or self.done >= self.total:
            self._next_report = self.done + max(self.total // 10, 1)
            self._print()

    def _print(self) -> None:
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 and self.total else 0.0
        total = f"/{self.total}" if self.total else ""
        print(f"{self.description}: {self.done}{total} {self.unit} ({rate:.1f} {self.unit}/s, "
              f"ETA {time.strftime('%H:%M:%S', time.gmtime(left))})", file=self.stream, flush=True)

    def close(self) -> None:
        if self.done and self.done < self.total:
            self._print()


class _RichProgress(_Counter):
    def __init__(self, total: int, description: str, unit: str) -> None:
        from rich.progress import TextColumn

        super().__init__()
        self._unit = unit
        self._progress = rich_progress(TextColumn("{task.fields[rate]}"), transient=False)
        self._task = self._progress.add_task(description, total=total or None, rate="")
        self._progress.start()

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        self._progress.update(self._task, advance=n, rate=f"{self.rate:.1f} {self._unit}/s")

    def close(self) -> None:
        self._progress.stop()


@contextmanager
def progress_bar(total: int, description: str = "", unit: str = "img", enabled: bool = True,
                 stream: TextIO | None = None) -> Iterator[_Counter]:
    """``with progress_bar(n, 'test') as bar: bar.advance(k)``; ``bar.rate`` is items per second."""
    stream = stream or sys.stdout
    if not enabled:
        bar: _Counter = _Counter()
    elif stream.isatty():
        bar = _RichProgress(total, description, unit)
    else:
        bar = _PlainProgress(total, description, unit, stream)
    try:
        yield bar
    finally:
        bar.close()
