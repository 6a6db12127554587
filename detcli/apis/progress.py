"""A progress bar with rate and ETA: rich on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class _PlainProgress:
    """For logs and pipes: one line per ~10 % (and at the end), never a redraw."""

    def __init__(self, total: int, description: str, unit: str, stream: TextIO) -> None:
        self.total, self.description, self.unit, self.stream = total, description, unit, stream
        self.done = 0
        self.start = time.perf_counter()
        self._next_report = max(total // 10, 1)

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
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


class _RichProgress:
    def __init__(self, total: int, description: str, unit: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.start = time.perf_counter()
        self.done = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            transient=False,
        )
        self._unit = unit
        self._task = self._progress.add_task(description, total=total or None, rate="")
        self._progress.start()

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._progress.update(self._task, advance=n, rate=f"{self.rate:.1f} {self._unit}/s")

    def close(self) -> None:
        self._progress.stop()


@contextmanager
def progress_bar(total: int, description: str = "", unit: str = "img", enabled: bool = True,
                 stream: TextIO | None = None) -> Iterator[_PlainProgress | _RichProgress | _NullProgress]:
    """``with progress_bar(n, 'test') as bar: bar.advance(k)``; ``bar.rate`` is items per second."""
    stream = stream or sys.stdout
    if not enabled:
        bar: _PlainProgress | _RichProgress | _NullProgress = _NullProgress()
    elif stream.isatty():
        bar = _RichProgress(total, description, unit)
    else:
        bar = _PlainProgress(total, description, unit, stream)
    try:
        yield bar
    finally:
        bar.close()


class _NullProgress:
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
