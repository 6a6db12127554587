"""``det analyze-logs plot LOG.json...`` and ``det analyze-logs cal-train-time LOG.json...``
(mmdetection's ``tools/analysis_tools/analyze_logs.py``; its ``plot_curve``/``cal_train_time``
spellings work too)."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand

analyze_logs_app = typer.Typer(help="Plot training curves and compute training speed from .log.json files.",
                               no_args_is_help=True)
app.add_typer(analyze_logs_app, name="analyze-logs")

LOGS_HELP = "The .log.json files of det train or mmdetection 2.x runs."


def plot(
    logs: list[Path] = typer.Argument(..., help=LOGS_HELP),
    keys: list[str] | None = typer.Option(
        None, "--keys", help="Keys to plot, e.g. loss_cls loss_bbox or bbox_mAP (default: bbox_mAP, else loss)."),
    legend: list[str] | None = typer.Option(
        None, "--legend", help="Labels: one per log, or one per log and key (default: the log file names)."),
    start_epoch: int = typer.Option(1, "--start-epoch", min=1, help="Leave out the epochs before this one."),
    eval_interval: int = typer.Option(
        1, "--eval-interval", min=1, hidden=True,
        help="Accepted for mmdetection's command line; the val epochs are read from the log itself."),
    title: str | None = typer.Option(None, "--title", help="Title of the figure."),
    style: str = typer.Option("whitegrid", "--style", help="seaborn style: darkgrid, whitegrid, dark, white, ticks."),
    backend: str | None = typer.Option(
        None, "--backend", help="matplotlib backend, e.g. TkAgg to show a window (default: headless Agg)."),
    out: str | None = typer.Option(
        None, "--out", help="Save to FILE.png/.pdf/.svg (default: <log>_<keys>.png, or a window with --backend)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plotted points as one JSON object."),
) -> None:
    """Plot KEYS of one or more runs: train keys per iteration, val metrics per epoch."""
    from detcli.tools.analyze_logs import run_plot

    run_plot([str(p) for p in logs], list(keys or []) or None, list(legend or []) or None, start_epoch, title,
             style, backend, out, as_json)


def cal_train_time(
    logs: list[Path] = typer.Argument(..., help=LOGS_HELP),
    include_outliers: bool = typer.Option(
        False, "--include-outliers", help="Keep each epoch's first logged iteration time (slow start-up)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
) -> None:
    """Average seconds per training iteration: per epoch, slowest/fastest epoch, their spread, overall."""
    from detcli.tools.analyze_logs import run_cal_train_time

    run_cal_train_time([str(p) for p in logs], include_outliers, as_json)


analyze_logs_app.command("plot", cls=MultiValueCommand)(plot)
analyze_logs_app.command("plot_curve", cls=MultiValueCommand, hidden=True)(plot)
analyze_logs_app.command("cal-train-time")(cal_train_time)
analyze_logs_app.command("cal_train_time", hidden=True)(cal_train_time)
