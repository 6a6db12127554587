"""``det test-robustness CONFIG CHECKPOINT``: the corruption benchmark (mmdetection's ``test_robustness.py``)."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("test-robustness", cls=MultiValueCommand)
def test_robustness(
    config: Path = typer.Argument(..., help="Test config file."),
    checkpoint: Path = typer.Argument(..., help="Checkpoint file."),
    corruptions: list[str] | None = typer.Option(
        None, "--corruptions", help="benchmark (default), all, noise, blur, weather, digital, holdout, None, "
        "or corruption names such as gaussian_noise motion_blur."),
    severities: list[int] | None = typer.Option(
        None, "--severities", help="Severity levels, 0 (clean) to 5 (default: 0 1 2 3 4 5)."),
    eval: list[str] | None = typer.Option(None, "--eval", help="bbox (default), segm or both."),  # noqa: A002
    out: Path | None = typer.Option(
        None, "--out", help="Results .pkl, saved after every run; an existing one is continued."),
    cfg_options: list[str] | None = cfg_options_option(),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when available)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random corruptions (the same for every run)."),
    final_prints: list[str] | None = typer.Option(
        None, "--final-prints", help="Blocks to print at the end: P, mPC, rPC (default: all three)."),
    final_prints_aggregate: str = typer.Option(
        "benchmark", "--final-prints-aggregate", help="Average mPC over the benchmark corruptions or all run."),
) -> None:
    """Test on corrupted copies of the test set; print P, mPC, rPC and the per-corruption table."""
    from detcli.tools.test_robustness import RobustnessOptions, run_test_robustness

    opts = RobustnessOptions(
        str(config), str(checkpoint), corruptions=list(corruptions or ["benchmark"]),
        severities=list(severities) if severities else [0, 1, 2, 3, 4, 5], eval=list(eval or ["bbox"]),
        out=str(out) if out else None, cfg_options=overrides_from(cfg_options), device=device, seed=seed,
        final_prints=list(final_prints or ["P", "mPC", "rPC"]), aggregate=final_prints_aggregate)
    run_test_robustness(opts)
