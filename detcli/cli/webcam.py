"""``det webcam CONFIG CHECKPOINT``: live detection on a camera (Esc or q quits)."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.checkpoint_options import apply_unsafe_load, unsafe_load_option


@app.command("webcam")
def webcam(
    config: Path = typer.Argument(..., help="Config file."),
    checkpoint: str = typer.Argument(..., help="Checkpoint file (.pth)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: CUDA if available)."),
    camera_id: int = typer.Option(0, "--camera-id", help="Camera index."),
    score_thr: float = typer.Option(0.5, "--score-thr", help="Draw detections above this score."),
    unsafe_load: bool = unsafe_load_option(),
) -> None:
    """Open camera CAMERA_ID and draw CONFIG/CHECKPOINT's detections live."""
    from detcli.tools.infer_runner import default_device, webcam_loop

    apply_unsafe_load(unsafe_load)
    webcam_loop(str(config), checkpoint, device or default_device(), camera_id, score_thr)
