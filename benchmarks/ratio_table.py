"""Side-by-side figures of the benchmarks: paired ratios with min/median/max over repeats, as a table and JSON.

Every benchmark times detcli and its peer in turns (ours, theirs, theirs, ours, ...), so each
repeat gives one pair measured under the same machine load; the ratio of each pair is what
varies least with the load, and its min/median/max over the repeats is what is reported.
Each run also records the 1-minute load average before and after, since this project's
machine is shared.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detcli.atomic_write import dump_json_atomic

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "outputs" / "bench"


@dataclass
class Comparison:
    """One row: the same quantity measured for detcli and for a peer in each repeat."""

    name: str
    ours: list[float]
    theirs: list[float]
    unit: str = "s"
    higher_is_better: bool = False  # seconds: lower is better; images/s: higher
    goal: float | None = None  # the speed-up the project aims for
    peer: str = "peer"
    note: str = ""

    def ratios(self) -> list[float]:
        """detcli's advantage per repeat: >1 means detcli is better."""
        pairs = zip(self.ours, self.theirs)
        if self.higher_is_better:
            return [o / t for o, t in pairs if t > 0]
        return [t / o for o, t in pairs if o > 0]

    def summary(self) -> dict[str, Any]:
        r = self.ratios()
        out = asdict(self)
        out.update(ratio_min=min(r) if r else None, ratio_median=statistics.median(r) if r else None,
                   ratio_max=max(r) if r else None,
                   ours_median=statistics.median(self.ours) if self.ours else None,
                   theirs_median=statistics.median(self.theirs) if self.theirs else None)
        if self.goal is not None and r:
            out["goal_met"] = statistics.median(r) >= self.goal
        return out


@dataclass
class Report:
    """A benchmark's rows plus the facts needed to read them."""

    title: str
    rows: list[Comparison] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)  # correctness facts (equal stats, max differences ...)

    def as_dict(self) -> dict[str, Any]:
        return dict(title=self.title, meta=self.meta, checks=self.checks, rows=[r.summary() for r in self.rows])


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine_facts(threads: int | None = None) -> dict[str, Any]:
    import torch

    return dict(date=time.strftime("%Y-%m-%d %H:%M"), cpus=os.cpu_count(), torch=torch.__version__,
                threads=threads if threads is not None else torch.get_num_threads(), load_avg_start=load_average())


def in_turns(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int = 1) -> list[list[float]]:
    """Seconds of each callable per repeat, timed in turns (order reversed every other repeat)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(warmup):
        for fn in fns:
            fn()
    for r in range(repeats):
        order = list(range(len(fns)))
        if r % 2:
            order.reverse()
        for i in order:
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return times


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if abs(v) >= 1000 or abs(v) < 0.01 else f"{v:.{digits}f}"


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    meta = report.meta
    table = Table(title=f"{report.title}  (load avg {meta.get('load_avg_start')} -> {meta.get('load_avg_end')}, "
                        f"{meta.get('threads')} threads, {meta.get('cpus')} CPUs)")
    for col in ("what", "detcli", "peer", "unit", "ratio min", "median", "max", "goal"):
        table.add_column(col, justify="left" if col in ("what", "unit") else "right")
    for row in report.rows:
        s = row.summary()
        goal = "-" if row.goal is None else f"{row.goal:g}x {'ok' if s.get('goal_met') else 'no'}"
        table.add_row(row.name, _fmt(s["ours_median"]), f"{_fmt(s['theirs_median'])} ({row.peer})", row.unit,
                      _fmt(s["ratio_min"], 2) + "x", _fmt(s["ratio_median"], 2) + "x", _fmt(s["ratio_max"], 2) + "x",
                      goal)
    Console(width=max(Console().width, 150)).print(table)
    for key, value in report.checks.items():
        print(f"  check {key}: {value}")


def write_report(report: Report, name: str, out_dir: Path = OUT_DIR) -> Path:
    """``out_dir/<name>.json``, written atomically; the load average at the end is added to ``meta``."""
    report.meta.setdefault("load_avg_end", load_average())
    path = out_dir / f"{name}.json"
    dump_json_atomic(report.as_dict(), path, indent=1, default=float)
    return path


def finish(report: Report, name: str, out_dir: Path = OUT_DIR) -> Path:
    path = write_report(report, name, out_dir)
    print_report(report)
    print(f"written: {path}")
    return path
