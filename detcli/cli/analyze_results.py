"""``det analyze-results CONFIG RESULTS.pkl OUT_DIR``: best and worst images (mmdetection's ``analyze_results.py``)."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("analyze-results", cls=MultiValueCommand)
def analyze_results(
    config: Path = typer.Argument(..., help="Config file whose data.test the results belong to."),
    results: Path = typer.Argument(..., help="Results pickle from det test --out x.pkl."),
    out_dir: Path = typer.Argument(..., help="Folder for good/, bad/ and analyze_results.json."),
    topk: int = typer.Option(20, "--topk", help="How many best and how many worst images to draw."),
    show_score_thr: float = typer.Option(0.0, "--show-score-thr", help="Draw detections above this score."),
    show: bool = typer.Option(False, "--show", help="Also show each drawing in a window."),
    wait_time: float = typer.Option(0.0, "--wait-time", help="Seconds each window stays (0: until a key)."),
    overlay_gt_pred: bool = typer.Option(
        False, "--overlay-gt-pred", help="Draw detections over the ground truth instead of below it."),
    cfg_options: list[str] | None = cfg_options_option(),
) -> None:
    """Score each test image by its own mAP; draw the TOPK best and worst with ground truth and detections."""
    from detcli.tools.analyze_results import run_analyze_results

    run_analyze_results(str(config), str(results), str(out_dir), topk=topk, show_score_thr=show_score_thr,
                        show=show, wait_time=wait_time, overlay_gt_pred=overlay_gt_pred,
                        cfg_options=overrides_from(cfg_options))
