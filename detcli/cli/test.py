"""``det test CONFIG CHECKPOINT``: test a trained detector (mmdetection 2.x ``tools/test.py`` flags)."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.checkpoint_options import apply_unsafe_load, unsafe_load_option
from detcli.cli.options import (
    MultiValueCommand,
    cfg_options_option,
    deprecated_options_option,
    eval_options_option,
    overrides_from,
)


@app.command("test", cls=MultiValueCommand)
def test(
    config: Path = typer.Argument(..., help="Config file."),
    checkpoint: str = typer.Argument(..., help="Checkpoint file (.pth)."),
    work_dir: str | None = typer.Option(None, "--work-dir", help="Write the metrics json (eval_<time>.json) here."),
    out: str | None = typer.Option(None, "--out", help="Save results: .pkl (results list) or .json (COCO-style)."),
    eval: list[str] | None = typer.Option(  # noqa: A002 - the flag is --eval
        None, "--eval", help="Metrics, e.g. bbox segm (COCO), mAP recall (VOC), proposal, proposal_fast."),
    format_only: bool = typer.Option(False, "--format-only",
                                     help="Only write result files for a server (e.g. COCO test-dev json)."),
    eval_options: list[str] | None = eval_options_option(),
    options: list[str] | None = deprecated_options_option("--eval-options"),
    show: bool = typer.Option(False, "--show", help="Show each image's detections in a window."),
    show_dir: str | None = typer.Option(None, "--show-dir", help="Save drawn detections to this folder."),
    show_score_thr: float = typer.Option(0.3, "--show-score-thr", help="Draw detections above this score."),
    gpus: int = typer.Option(1, "--gpus", help="Start this many processes here (GPUs, or CPU workers)."),
    gpu_id: int = typer.Option(0, "--gpu-id", help="GPU to use for a single process."),
    gpu_ids: list[int] | None = typer.Option(None, "--gpu-ids", hidden=True, help="Deprecated: use --gpu-id."),
    launcher: str = typer.Option("none", "--launcher", help="none | pytorch (torchrun) | slurm (srun) | mpi."),
    local_rank: int = typer.Option(0, "--local_rank", "--local-rank", hidden=True),
    cfg_options: list[str] | None = cfg_options_option(),
    fuse_conv_bn: bool | None = typer.Option(
        None, "--fuse-conv-bn/--no-fuse-conv-bn",
        help="Fold BatchNorms into convs (faster, last bits differ; default: the config's fuse_conv_bn, off when absent)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: CUDA if available)."),
    gpu_collect: bool = typer.Option(False, "--gpu-collect", help="Gather results through the process group."),
    tmpdir: str | None = typer.Option(None, "--tmpdir", help="Shared folder for gathering results from processes."),
    unsafe_load: bool = unsafe_load_option(),
    allow_partial: bool = typer.Option(
        False, "--allow-partial",
        help="Test even when the checkpoint fills less than half of the model's weights (another model's?)."),
) -> None:
    """Run CONFIG's test set through CHECKPOINT: save, evaluate, format or draw the results."""
    from detcli.tools.test_runner import TestOptions, run_test

    if launcher not in ("none", "pytorch", "slurm", "mpi"):
        raise typer.BadParameter(f"{launcher!r} is not one of none, pytorch, slurm, mpi", param_hint="--launcher")
    apply_unsafe_load(unsafe_load)
    run_test(TestOptions(
        config=str(config), checkpoint=checkpoint, work_dir=work_dir, out=out, eval=list(eval or []),
        format_only=format_only, eval_options=overrides_from(eval_options, options, flag="--eval-options"),
        show=show, show_dir=show_dir, show_score_thr=show_score_thr, gpus=gpus,
        gpu_id=gpu_ids[0] if gpu_ids else gpu_id, launcher=launcher, cfg_options=overrides_from(cfg_options),
        fuse_conv_bn=fuse_conv_bn, device=device, gpu_collect=gpu_collect, tmpdir=tmpdir,
        allow_partial=allow_partial,
    ))
