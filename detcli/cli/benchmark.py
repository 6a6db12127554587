"""``det benchmark CONFIG CHECKPOINT``: inference speed in images/s (mmdetection's ``benchmark.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("benchmark", cls=MultiValueCommand)
def benchmark(
    config: Path = typer.Argument(..., help="Config file (its test set supplies the images)."),
    checkpoint: str = typer.Argument(..., help="Checkpoint file (.pth)."),
    max_iter: int = typer.Option(2000, "--max-iter", help="Images to run, warm-up included."),
    log_interval: int = typer.Option(50, "--log-interval", help="Print the speed so far every N images."),
    fuse_conv_bn: bool | None = typer.Option(
        None, "--fuse-conv-bn/--no-fuse-conv-bn",
        help="Fold BatchNorms into convs (faster, last bits differ; default: the config's fuse_conv_bn, off when absent)."),
    num_warmup: int = typer.Option(5, "--num-warmup", help="First images left out of the figure (slow start-up)."),
    repeat_num: int = typer.Option(1, "--repeat-num", help="Measure this many times and report each and the mean."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: CUDA if available)."),
    cfg_options: list[str] | None = cfg_options_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object (no progress lines)."),
) -> None:
    """Images per second of CHECKPOINT on CONFIG's test set, batch 1, warm-up left out."""
    from detcli.tools.benchmark import run_benchmark

    result = run_benchmark(str(config), checkpoint, max_iter=max_iter, log_interval=log_interval,
                           fuse_conv_bn=fuse_conv_bn, num_warmup=num_warmup, device=device,
                           cfg_options=overrides_from(cfg_options), repeat_num=repeat_num,
                           report=None if as_json else lambda line: typer.echo(line))
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
