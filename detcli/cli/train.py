"""``det train CONFIG``: train a detector (mmdetection 2.x ``tools/train.py`` flags, plus local launching)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.checkpoint_options import apply_unsafe_load, unsafe_load_option
from detcli.cli.options import (
    MultiValueCommand,
    cfg_options_option,
    deprecated_options_option,
    overrides_from,
)

_LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


@app.command("train", cls=MultiValueCommand)
def train(
    config: Path = typer.Argument(..., help="Config file."),
    work_dir: str | None = typer.Option(None, "--work-dir",
                                        help="Logs and checkpoints go here (default: ./work_dirs/<config name>)."),
    resume_from: str | None = typer.Option(None, "--resume-from",
                                           help="Continue from this checkpoint (weights, optimizer, position)."),
    auto_resume: bool = typer.Option(False, "--auto-resume", help="Continue from the newest checkpoint in work_dir."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Do not evaluate during training."),
    gpus: int = typer.Option(1, "--gpus", min=1,
                             help="Start this many processes here (one per GPU; CPU workers with --device cpu)."),
    gpu_ids: list[int] | None = typer.Option(None, "--gpu-ids", hidden=True, help="Deprecated: use --gpu-id."),
    gpu_id: int = typer.Option(0, "--gpu-id", help="GPU of a single-process run."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: CUDA if available)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: the config's, else random)."),
    diff_seed: bool = typer.Option(False, "--diff-seed", help="A different seed per process (seed + rank)."),
    deterministic: bool = typer.Option(False, "--deterministic",
                                       help="Deterministic cuDNN; a resumed run repeats the uninterrupted one "
                                            "exactly, also with loader workers (re-loads skipped batches)."),
    cfg_options: list[str] | None = cfg_options_option(),
    options: list[str] | None = deprecated_options_option(),
    launcher: str = typer.Option("none", "--launcher", help="none | pytorch (under torchrun) | slurm (under srun)."),
    local_rank: int = typer.Option(0, "--local_rank", "--local-rank", hidden=True),
    nnodes: int = typer.Option(1, "--nnodes", min=1, help="Machines in a multi-node run (use with --gpus)."),
    node_rank: int = typer.Option(0, "--node-rank", min=0, help="This machine's index in a multi-node run."),
    master_addr: str = typer.Option("127.0.0.1", "--master-addr", help="Address of the node with rank 0."),
    master_port: int | None = typer.Option(None, "--master-port",
                                           help="Port on the master node (default: $PORT, else a free one)."),
    amp: bool = typer.Option(False, "--amp", help="Mixed precision (float16 on CUDA, bfloat16 on CPU)."),
    auto_scale_lr: bool = typer.Option(False, "--auto-scale-lr",
                                       help="Scale the LR linearly with the total batch size (base: 16 images)."),
    unsafe_load: bool = unsafe_load_option(),
) -> None:
    """Train the detector of CONFIG: logs, json log and checkpoints go to the work dir."""
    from detcli.apis.train import TrainArgs, run_train

    if launcher not in _LAUNCHERS:
        raise typer.BadParameter(f"{launcher!r} is not one of {', '.join(_LAUNCHERS)}", param_hint="--launcher")
    if node_rank >= nnodes:
        raise typer.BadParameter(f"--node-rank {node_rank} needs --nnodes > {node_rank}", param_hint="--node-rank")
    os.environ.setdefault("LOCAL_RANK", str(local_rank))
    apply_unsafe_load(unsafe_load)  # load_from / resume_from / init_cfg checkpoints
    run_train(TrainArgs(
        config=str(config), work_dir=work_dir, resume_from=resume_from, auto_resume=auto_resume,
        no_validate=no_validate, gpu_ids=[gpu_ids[0]] if gpu_ids else [gpu_id], device=device, seed=seed,
        diff_seed=diff_seed, deterministic=deterministic, cfg_options=overrides_from(cfg_options, options),
        launcher=launcher, amp=amp, auto_scale_lr=auto_scale_lr, gpus=gpus, nnodes=nnodes, node_rank=node_rank,
        master_addr=master_addr, master_port=master_port,
    ))
