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

import errno
import os
import signal
import socket
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


def _port_and_source(spec: LaunchSpec) -> tuple[int, str | None]:
    """The master port and where it came from (None: picked here)."""
    if spec.master_port is not None:
        return spec.master_port, "--master-port"
    for var in ("PORT", "MASTER_PORT"):
        if os.environ.get(var):
            try:
                return int(os.environ[var]), f"${var}"
            except ValueError:
                raise ConfigError(f"${var} must be a port number, got {os.environ[var]!r}",
                                  hint=f"unset {var} to let det pick a free port") from None
    return (find_free_port(), None) if spec.nnodes == 1 else (DEFAULT_PORT, None)


def _busy_port_error(port: int, source: str | None) -> DetError:
    if source == "--master-port":
        fix = "pass another --master-port"
    elif source:
        fix = f"set {source[1:]} to a free port, or unset it to let det pick one"
    else:
        fix = "pass --master-port with a free port"
    return DetError(f"port {port} ({source or 'the default'}) is already in use on this machine: the "
                    "process group cannot start there (another training still running?)", hint=fix)


def check_port_free(port: int, source: str | None) -> None:
    """Fail in one line when ``port`` is taken here (the master binds it before the workers meet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as torch's store does
        try:
            probe.bind(("", port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise _busy_port_error(port, source) from None
            raise


def _worker(local_rank: int, fn: Callable, args: tuple, spec: LaunchSpec, port: int, source: str | None,
            errors: Any) -> None:
    os.environ.update(
        RANK=str(spec.node_rank * spec.nprocs + local_rank), LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(spec.world_size), LOCAL_WORLD_SIZE=str(spec.nprocs),
        MASTER_ADDR=spec.master_addr, MASTER_PORT=str(port),
    )
    try:
        try:
            init_dist("pytorch", backend=spec.backend)
        except RuntimeError as err:  # torch's DistNetworkError: the port was taken after the check
            if "EADDRINUSE" not in str(err):
                raise
            raise _busy_port_error(port, source) from None
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
    port, source = _port_and_source(spec)
    if spec.node_rank == 0:
        check_port_free(port, source)
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    context = mp.start_processes(_worker, args=(fn, args, spec, port, source, errors), nprocs=spec.nprocs,
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
