"""What ``det analyze-logs`` does: plot curves of training logs, and compute the training speed.

Both read ``.log.json`` files of ``det train`` and of mmdetection 2.x (``log_records``);
the figure itself is drawn by ``log_plot``. ``cal-train-time`` gives the figures of
mmdetection's ``analyze_logs.py cal_train_time``, in its words, on well-formed logs; on
the others (resumed, crashed, uneven epochs) it still gives the right ones, naming real
epoch numbers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detcli.errors import DataError, DetError
from detcli.tools.log_plot import build_panels, draw, finite_points, is_interactive
from detcli.tools.log_records import RunLog, read_json_log


class LogKeyError(DetError, KeyError):
    """A key asked for that the logs do not have."""


# ---------------------------------------------------------------------------------------------
# cal-train-time
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainTime:
    """Seconds per iteration of one run: per epoch, their spread, and overall."""

    log: str
    include_outliers: bool
    epoch_times: dict[int, float]
    slowest_epoch: int
    slowest_time: float
    fastest_epoch: int
    fastest_time: float
    std_over_epochs: float
    average_iter_time: float
    epochs_without_times: list[int] = field(default_factory=list)


def train_time(run: RunLog, include_outliers: bool = False) -> TrainTime:
    """Mean ``time`` per epoch over the train lines; each epoch's first line (start-up, data
    loader workers, cudnn autotuning) is left out unless ``include_outliers``."""
    per_epoch: dict[int, list[float]] = {}
    for record in run.train:
        if "time" in record:
            per_epoch.setdefault(int(record.get("epoch") or 1), []).append(float(record["time"]))
    kept = {e: (t if include_outliers else t[1:]) for e, t in sorted(per_epoch.items())}
    empty = [e for e, t in kept.items() if not t]
    kept = {e: t for e, t in kept.items() if t}
    if not kept:
        raise DataError(
            f"{run.path} has no iteration times to average"
            + ("" if include_outliers or not per_epoch else " once each epoch's first line is left out"),
            hint="log more often than once per epoch (a smaller log_config.interval), or add --include-outliers")
    epochs = list(kept)
    means = np.array([np.mean(kept[e]) for e in epochs])
    slow, fast = int(means.argmax()), int(means.argmin())
    return TrainTime(
        log=run.path, include_outliers=include_outliers,
        epoch_times={e: float(m) for e, m in zip(epochs, means)},
        slowest_epoch=epochs[slow], slowest_time=float(means[slow]),
        fastest_epoch=epochs[fast], fastest_time=float(means[fast]),
        std_over_epochs=float(means.std()),
        average_iter_time=float(np.mean(np.concatenate([kept[e] for e in epochs]))),
        epochs_without_times=empty,
    )


def format_train_time(t: TrainTime) -> str:
    """The report in mmdetection's words (the guide prints this)."""
    return "\n".join([
        f"{'-' * 5}Analyze train time of {t.log}{'-' * 5}",
        f"slowest epoch {t.slowest_epoch}, average time is {t.slowest_time:.4f}",
        f"fastest epoch {t.fastest_epoch}, average time is {t.fastest_time:.4f}",
        f"time std over epochs is {t.std_over_epochs:.4f}",
        f"average iter time: {t.average_iter_time:.4f} s/iter",
    ])


def run_cal_train_time(logs: list[str], include_outliers: bool = False, as_json: bool = False) -> list[TrainTime]:
    """``det analyze-logs cal-train-time``: print each log's timing (or one JSON object)."""
    results = []
    for path in logs:
        run = read_json_log(path)
        results.append(train_time(run, include_outliers))
        if not as_json:
            _print_notes(run)
            print(format_train_time(results[-1]))
            print()
    if as_json:
        print(json.dumps({"logs": [asdict(t) for t in results]}))
    return results


# ---------------------------------------------------------------------------------------------
# plot
# ---------------------------------------------------------------------------------------------
def run_labels(paths: list[str]) -> list[str]:
    """Short names that tell the runs apart: the file name without ``.log.json``, with as many
    parent folders as it takes to make the names differ (work dirs of one timestamp...)."""
    parts = [Path(p).resolve().parts for p in paths]

    def name(p: tuple[str, ...], depth: int) -> str:
        tail = list(p[-depth:])
        for suffix in (".log.json", ".json"):
            if tail[-1].endswith(suffix):
                tail[-1] = tail[-1][: -len(suffix)]
                break
        return "/".join(tail)

    depth = 1
    while depth < max(len(p) for p in parts) and len({name(p, depth) for p in parts}) < len(parts):
        depth += 1
    return [name(p, depth) for p in parts]


def default_keys(runs: list[RunLog]) -> list[str]:
    """mmdetection's default, bbox_mAP, when a log has it; else the total training loss."""
    if any("bbox_mAP" in r.val_keys for r in runs):
        return ["bbox_mAP"]
    return ["loss"]


def check_keys(runs: list[RunLog], keys: list[str]) -> list[str]:
    """Refuse a key that no log has, naming the keys the logs do have; warn about partial ones."""
    notes = []
    for key in keys:
        have = [r for r in runs if key in r.train_keys or key in r.val_keys or f"{key}_val" in r.val_keys]
        if not have:
            available = sorted(set().union(*(r.train_keys | r.val_keys for r in runs)))
            where = runs[0].path if len(runs) == 1 else f"any of the {len(runs)} logs"
            hint = ("metrics appear only when the run evaluated (it was not trained with --no-validate)"
                    if "AP" in key or "AR" in key else "keys are case-sensitive; pick one of those listed")
            raise LogKeyError(f"no line of {where} has the key {key!r}; the logs have: {', '.join(available)}",
                              hint=hint)
        for r in runs:
            if r not in have:
                notes.append(f"{r.path} has no {key!r}; its curve is left out")
    return notes


def legend_map(runs: list[RunLog], keys: list[str], legend: list[str] | None) -> dict[tuple[str, str], str] | None:
    """``--legend``: one label per log, or one per (log, key) in mmdetection's order (log-major)."""
    if not legend:
        return None
    if len(legend) == len(runs):
        return {(r.path, k): legend[i] for i, r in enumerate(runs) for k in keys}
    if len(legend) == len(runs) * len(keys):
        return {(r.path, k): legend[i * len(keys) + j] for i, r in enumerate(runs) for j, k in enumerate(keys)}
    raise DetError(f"--legend got {len(legend)} labels for {len(runs)} log(s) and {len(keys)} key(s)",
                   hint=f"give {len(runs)} labels (one per log) or {len(runs) * len(keys)} (one per log and key)")


def default_out(paths: list[str], keys: list[str]) -> str:
    stem = run_labels(paths[:1])[0].replace("/", "_")
    return f"{stem}_{'_'.join(keys)}.png"


def run_plot(logs: list[str], keys: list[str] | None = None, legend: list[str] | None = None, start_epoch: int = 1,
             title: str | None = None, style: str = "whitegrid", backend: str | None = None, out: str | None = None,
             as_json: bool = False) -> dict[str, Any]:
    """``det analyze-logs plot``: draw the curves; returns (and with ``as_json`` prints) what was plotted.

    Without ``out`` the figure is saved under a name made of the first log and the keys,
    unless ``backend`` names an interactive matplotlib backend (TkAgg, QtAgg...), which shows it.
    """
    runs = [read_json_log(p) for p in logs]
    keys = list(keys or default_keys(runs))
    notes = check_keys(runs, keys)
    labels = run_labels(logs)
    panels = build_panels(runs, labels, keys, start_epoch)
    if not any(p.series for p in panels):
        raise DataError(f"nothing to plot for {', '.join(keys)} from epoch {start_epoch} on",
                        hint="lower --start-epoch")
    if out is None and not (backend and is_interactive(backend)):
        out = default_out(logs, keys)
    saved = draw(panels, out, title=title, style=style, backend=backend, legend=legend_map(runs, keys, legend))
    summary = {
        "out": saved,
        "logs": [{"log": r.path, "label": lab, "by_epoch": r.by_epoch, "iters_per_epoch": r.iters_per_epoch,
                  "notes": r.notes} for r, lab in zip(runs, labels)],
        "series": [{"log": s.log, "label": s.label, "key": s.key, "mode": s.mode, "x_unit": p.unit,
                    "points": len(s.x), "x": s.x, "y": s.y} for p in panels for s in p.series],
    }
    if as_json:
        print(json.dumps(summary))
        return summary
    for run in runs:
        _print_notes(run)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for panel in panels:
        for s in panel.series:
            print(f"plot curve of {s.log}, {s.mode} {s.key}: {finite_points(s)} points per {panel.unit}")
    if saved:
        print(f"save curve to: {saved}")
    return summary


def _print_notes(run: RunLog) -> None:
    for note in run.notes:
        print(f"note: {run.path}: {note}", file=sys.stderr)
