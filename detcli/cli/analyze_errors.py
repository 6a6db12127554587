"""``det analyze-errors RESULTS OUT_DIR``: COCO error analysis (mmdetection's ``coco_error_analysis.py``)."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


def analyze_errors(
    results: Path = typer.Argument(..., help="COCO results json (det test --format-only) or results .pkl."),
    out_dir: Path = typer.Argument(..., help="Folder for the figures and error_analysis.json."),
    ann: Path | None = typer.Option(None, "--ann", help="COCO annotation json the results were tested on."),
    types: list[str] | None = typer.Option(None, "--types", help="Result types: bbox (default), segm or both."),
    config: Path | None = typer.Option(
        None, "--config", help="Config whose data.test the results belong to (needed for a .pkl)."),
    extraplots: bool = typer.Option(False, "--extraplots", help="Also draw AP bars and ground-truth area plots."),
    areas: list[float] | None = typer.Option(
        None, "--areas", metavar="SMALL MEDIUM LARGE", help="Upper area of small, medium, large (default 1024 9216 1e10)."),
    cfg_options: list[str] | None = cfg_options_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the tables."),
) -> None:
    """Break AP down into localisation, class confusion, background and missed-object errors (Hoiem et al.)."""
    from detcli.tools.analyze_errors import run_analyze_errors

    run_analyze_errors(str(results), str(out_dir), list(types or ["bbox"]), ann=str(ann) if ann else None,
                       config=str(config) if config else None, extraplots=extraplots,
                       areas=list(areas) if areas else None, cfg_options=overrides_from(cfg_options),
                       as_json=as_json)


app.command("analyze-errors", cls=MultiValueCommand)(analyze_errors)
app.command("error-analysis", cls=MultiValueCommand, hidden=True)(analyze_errors)
