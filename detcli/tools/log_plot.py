"""The curves of ``det analyze-logs plot``: which points each (run, key) gives, and the figure.

One panel per key, every run in it, so keys of very different scales (a loss, the lr, an
mAP) stay readable. Train values are plotted per global iteration (epochs do not restart
the x axis); val values per epoch, or, in a panel whose x axis is iterations (a loss
that a ``('val', 1)`` workflow also logs), at the iteration where their epoch ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from detcli.errors import DetError
from detcli.tools.log_records import RunLog, is_number
from detcli.visualization.figures import save_figure

ITERATION, EPOCH = "iteration", "epoch"
# What every line carries about the run itself: val lines repeat them, but they are no val curve.
RUN_STATE_KEYS = ("lr", "momentum", "time", "data_time", "memory")


@dataclass
class Series:
    """The points of one key of one run in one mode (train or val)."""

    label: str
    log: str
    key: str
    mode: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)


@dataclass
class Panel:
    key: str
    unit: str
    series: list[Series] = field(default_factory=list)


def val_key_for(run: RunLog, key: str) -> str | None:
    """The val lines' name for ``key``: itself, or ``key_val`` (how mmdetection 2.28 and detcli name
    the losses of a ``('val', 1)`` workflow epoch)."""
    if key in RUN_STATE_KEYS or key.startswith(("lr_", "momentum_")):
        return None
    if key in run.val_keys:
        return key
    if f"{key}_val" in run.val_keys:
        return f"{key}_val"
    return None


def panel_unit(runs: list[RunLog], key: str) -> str:
    """Iterations when any run logs ``key`` while training or counts iterations only; else epochs."""
    if any(key in run.train_keys for run in runs):
        return ITERATION
    if any(not run.by_epoch and val_key_for(run, key) for run in runs):
        return ITERATION
    return EPOCH


def _keep(record: dict[str, Any], start_epoch: int) -> bool:
    epoch = record.get("epoch")
    return not is_number(epoch) or epoch >= start_epoch


def series_of(run: RunLog, key: str, unit: str, label: str, start_epoch: int = 1) -> list[Series]:
    """The train and val series of ``key`` in ``run`` (an empty list when the run lacks the key)."""
    out = []
    if key in run.train_keys:
        train = Series(label, run.path, key, "train")
        for record in run.train:
            if key in record and is_number(record[key]) and _keep(record, start_epoch):
                train.x.append(run.train_position(record))
                train.y.append(float(record[key]))
        out.append(train)
    val_key = val_key_for(run, key)
    if val_key is not None:
        val = Series(label, run.path, val_key, "val")
        for record in run.val:
            if not (val_key in record and is_number(record[val_key]) and _keep(record, start_epoch)):
                continue
            if run.by_epoch and not is_number(record.get("epoch")):
                continue  # a val line that cannot be placed
            if unit == EPOCH:
                val.x.append(int(record["epoch"]))
            elif run.by_epoch:
                val.x.append(int(record["epoch"]) * run.iters_per_epoch)
            else:
                val.x.append(int(record["_after_iter"]))
            val.y.append(float(record[val_key]))
        out.append(val)
    return [s for s in out if s.x]


def build_panels(runs: list[RunLog], labels: list[str], keys: list[str], start_epoch: int = 1) -> list[Panel]:
    panels = []
    for key in keys:
        panel = Panel(key, panel_unit(runs, key))
        for run, label in zip(runs, labels):
            panel.series.extend(series_of(run, key, panel.unit, label, start_epoch))
        panels.append(panel)
    return panels


def _legend_text(series: Series, panel: Panel, two_modes: bool, custom: dict[tuple[str, str], str] | None) -> str:
    base = custom.get((series.log, panel.key)) if custom else None
    base = base or series.label
    return f"{base} ({series.mode})" if two_modes else base


def draw(panels: list[Panel], out: str | None, title: str | None = None, style: str = "whitegrid",
         backend: str | None = None, legend: dict[tuple[str, str], str] | None = None) -> str | None:
    """Draw ``panels`` (stacked, one per key) and save to ``out``, or show them with an interactive
    ``backend`` when ``out`` is None. ``legend`` maps (log path, key) to a label. Returns ``out``."""
    import matplotlib

    try:
        matplotlib.use(backend or "Agg", force=True)
        import matplotlib.pyplot as plt

        plt.switch_backend(backend or "Agg")
    except (ImportError, ValueError) as err:
        raise DetError(f"matplotlib backend {backend!r} cannot be used here: {err}",
                       hint="leave out --backend to save the figure with --out FILE.png") from None
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    styles = ("darkgrid", "whitegrid", "dark", "white", "ticks")
    if style not in styles:
        raise DetError(f"unknown plot style {style!r}", hint=f"use one of {', '.join(styles)}")
    sns.set_style(style)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.6 * len(panels) + 0.6), squeeze=False)
    palette = sns.color_palette("tab10")
    logs = list(dict.fromkeys(s.log for p in panels for s in p.series))
    for ax, panel in zip(axes[:, 0], panels):
        modes = {s.mode for s in panel.series}
        for series in panel.series:
            color = palette[logs.index(series.log) % len(palette)]
            text = _legend_text(series, panel, len(modes) > 1, legend)
            if series.mode == "train" and panel.unit == ITERATION:
                ax.plot(series.x, series.y, color=color, linewidth=1.2, label=text)
            else:
                ax.plot(series.x, series.y, color=color, linewidth=1.2, marker="o", markersize=5,
                        linestyle="--" if series.mode == "val" and "train" in modes else "-", label=text)
        ax.set_xlabel(panel.unit)
        ax.set_ylabel(panel.key)
        ax.set_title(panel.key)
        if panel.unit == EPOCH:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="large")
    fig.tight_layout()
    if out is None:
        try:
            plt.show()
        finally:
            plt.close(fig)
        return None
    return save_figure(fig, out)


def is_interactive(backend: str) -> bool:
    """Whether matplotlib ``backend`` opens windows (``plt.show`` does nothing with Agg, pdf, svg...)."""
    try:
        from matplotlib.backends import BackendFilter, backend_registry

        interactive = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        from matplotlib import rcsetup

        interactive = rcsetup.interactive_bk
    return backend.lower() in {b.lower() for b in interactive}


def finite_points(series: Series) -> int:
    return sum(1 for v in series.y if math.isfinite(v))
