"""``det report WORK_DIR``: one self-contained HTML page about a finished training run."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("report", cls=MultiValueCommand)
def report(
    work_dir: Path = typer.Argument(..., help="Work dir of a det train run (config, .log.json, checkpoints)."),
    out: Path | None = typer.Option(None, "--out", help="The page to write (default WORK_DIR/report.html)."),
    config: Path | None = typer.Option(None, "--config", help="Config (default: the one det train saved there)."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="Checkpoint (default: latest.pth)."),
    results: Path | None = typer.Option(
        None, "--results", help="Results .pkl of det test --out, instead of running the checkpoint."),
    topk: int = typer.Option(3, "--topk", help="How many best and worst images to show."),
    score_thr: float = typer.Option(0.3, "--score-thr", help="Draw detections above this score on those images."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N for running the checkpoint."),
    flops: bool = typer.Option(True, "--flops/--no-flops", help="Count FLOPs and parameters."),
    cfg_options: list[str] | None = cfg_options_option(),
) -> None:
    """Curves, metrics per category, error analysis, best/worst images, FLOPs and config in one HTML file."""
    from detcli.tools.report import write_report

    write_report(str(work_dir), str(out) if out else None, config=str(config) if config else None,
                 checkpoint=str(checkpoint) if checkpoint else None, results=str(results) if results else None,
                 topk=topk, device=device, cfg_options=overrides_from(cfg_options), with_flops=flops,
                 score_thr=score_thr)
