"""Start N training processes on this machine (``det train --gpus N``), one per GPU or CPU worker.

Each process gets the environment torchrun would give it (RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and joins the process group
through the ``pytorch`` launcher, so the same training code runs under ``--gpus N``,
torchrun and srun. For several machines, run it on each with ``--nnodes``,
``--node-rank``, ``--master-addr`` and ``--master-port`` (or the ``PORT`` variable).
A user error in any worker comes back as that error; Ctrl-C and SIGTERM are passed on to
the workers, which save a checkpoint before they stop.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException

from detcli.engine.dist import DEFAULT_PORT, find_free_port, init_dist
from detcli.errors import ConfigError, DetError


@dataclass
class LaunchSpec:
    nprocs: int
    backend: str
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None

    @property
    def world_size(self) -> int:
        return self.nprocs * self.nnodes


def _resolve_port(spec: LaunchSpec) -> int:
    if spec.master_port is not None:
        return spec.master_port
    for var in ("PORT", "MASTER_PORT"):
        if os.environ.get(var):
            return int(os.environ[var])
    return find_free_port() if spec.nnodes == 1 else DEFAULT_PORT


def _worker(local_rank: int, fn: Callable, args: tuple, spec: LaunchSpec, port: int, errors: Any) -> None:
    os.environ.update(
        RANK=str(spec.node_rank * spec.nprocs + local_rank), LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(spec.world_size), LOCAL_WORLD_SIZE=str(spec.nprocs),
        MASTER_ADDR=spec.master_addr, MASTER_PORT=str(port),
    )
    try:
        init_dist("pytorch", backend=spec.backend)
        fn(*args)
    except DetError as err:
        errors.put((local_rank, type(err).__name__, str(err), err.hint))
        raise SystemExit(1) from None
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


class WorkerError(DetError):
    """A user-facing error raised inside one of the launched processes."""


def launch(fn: Callable, args: tuple, spec: LaunchSpec) -> None:
    """Run ``fn(*args)`` in ``spec.nprocs`` new processes of one process group and wait for them."""
    if spec.nprocs < 1 or spec.nnodes < 1 or not 0 <= spec.node_rank < spec.nnodes:
        raise ConfigError(f"invalid launch: {spec.nprocs} processes, node {spec.node_rank} of {spec.nnodes}")
    port = _resolve_port(spec)
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    context = mp.start_processes(_worker, args=(fn, args, spec, port, errors), nprocs=spec.nprocs,
                                 join=False, start_method="spawn")

    def forward(signum: int, frame: Any) -> None:
        for proc in context.processes:
            if proc.is_alive():
                os.kill(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not context.join(grace_period=5):
            pass
    except ProcessException as err:
        reported = []
        while not errors.empty():
            reported.append(errors.get())
        if reported:
            _, kind, message, hint = min(reported)  # the lowest rank's error
            raise WorkerError(message, hint=hint) from None
        raise DetError(f"a training process failed: {err}") from err
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
