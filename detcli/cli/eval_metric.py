"""``det eval-metric CONFIG RESULTS.pkl|.json``: evaluate saved test results without running the model again."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, eval_options_option, overrides_from


@app.command("eval-metric", cls=MultiValueCommand)
def eval_metric(
    config: Path = typer.Argument(..., help="Config file whose data.test the results belong to."),
    results: Path = typer.Argument(..., help="Results from det test --out: x.pkl, or x.json (COCO-style)."),
    eval: list[str] | None = typer.Option(None, "--eval", help="Metrics, e.g. bbox segm or mAP."),  # noqa: A002
    format_only: bool = typer.Option(False, "--format-only", help="Only write result files (e.g. COCO json)."),
    cfg_options: list[str] | None = cfg_options_option(),
    eval_options: list[str] | None = eval_options_option(),
) -> None:
    """Score RESULTS against CONFIG's test set (or only format them with --format-only)."""
    from detcli.tools.eval_metric import run_eval_metric

    run_eval_metric(str(config), str(results), list(eval or []), format_only, overrides_from(cfg_options),
                    overrides_from(eval_options, flag="--eval-options"))
