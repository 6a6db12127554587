"""``det flops CONFIG``: FLOPs and parameters of a detector (mmdetection 2.x ``get_flops.py`` flags)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("flops", cls=MultiValueCommand)
def flops(
    config: Path = typer.Argument(..., help="Config file."),
    shape: list[int] | None = typer.Option(
        None, "--shape", metavar="H [W]", help="Input height and width, or one size for both (default 1280 800)."),
    cfg_options: list[str] | None = cfg_options_option(),
    size_divisor: int = typer.Option(
        32, "--size-divisor", help="Round the input up to a multiple of this, as the test pipeline pads (0 or -1: off)."),
    depth: int = typer.Option(2, "--depth", help="Rows of the per-module table down to this depth (0: no table)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table and summary."),
) -> None:
    """Count CONFIG's FLOPs (1 multiply-add = 1 FLOP, as mmcv) and parameters on one image."""
    from detcli.tools.flops import module_table, run_flops, summary_lines

    report = run_flops(str(config), shape, overrides_from(cfg_options), size_divisor, max_depth=max(depth, 0))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    if depth > 0:
        from rich.console import Console

        Console(highlight=False).print(module_table(report))
    typer.echo("\n".join(summary_lines(report)))
