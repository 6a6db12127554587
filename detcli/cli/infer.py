"""``det infer INPUT CONFIG CHECKPOINT``: run a detector on images, folders, globs or videos."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.checkpoint_options import apply_unsafe_load, unsafe_load_option
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("infer", cls=MultiValueCommand)
def infer(
    input: str = typer.Argument(..., help="An image, a folder of images, a quoted glob ('imgs/*.jpg') or a video."),  # noqa: A002
    config: Path = typer.Argument(..., help="Config file."),
    checkpoint: str = typer.Argument(..., help="Checkpoint file (.pth)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: CUDA if available)."),
    score_thr: float = typer.Option(0.3, "--score-thr", help="Keep detections above this score."),
    out_dir: str | None = typer.Option(None, "--out-dir",
                                       help="Write drawn images + one JSON per image (or the annotated video)."),
    out_file: str | None = typer.Option(None, "--out-file", help="Write the drawn result of one image/video here."),
    out: str | None = typer.Option(None, "--out", help="For a video: the same as --out-file (video_demo.py's name)."),
    show: bool = typer.Option(False, "--show", help="Show results in a window."),
    palette: str = typer.Option("coco", "--palette", help="Box/mask colours: coco, voc, citys or random."),
    async_test: bool = typer.Option(False, "--async-test", help="Use the asynchronous inference API."),
    batch_size: int = typer.Option(1, "--batch-size", help="Images per forward pass."),
    wait_time: float = typer.Option(1.0, "--wait-time", help="Seconds each shown frame stays (0: until a key)."),
    unsafe_load: bool = unsafe_load_option(),
    cfg_options: list[str] | None = cfg_options_option(),
) -> None:
    """Detect objects in INPUT. Without --out-dir, prints one JSON line of detections per image."""
    from detcli.tools.infer_runner import InferOptions, default_device, run_infer

    if palette not in ("coco", "voc", "citys", "random"):
        raise typer.BadParameter(f"{palette!r} is not one of coco, voc, citys, random", param_hint="--palette")
    apply_unsafe_load(unsafe_load)
    run_infer(InferOptions(input=input, config=str(config), checkpoint=checkpoint, device=device or default_device(),
                           score_thr=score_thr, out_dir=out_dir, out_file=out_file, show=show, palette=palette,
                           async_test=async_test, batch_size=batch_size, wait_time=wait_time, out=out,
                           cfg_options=overrides_from(cfg_options)))
