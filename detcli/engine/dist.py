"""torch.distributed set-up and the few collectives the engine needs.

Launchers: ``pytorch`` (torchrun or our own local launcher: RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment) and ``slurm`` (srun:
SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST). NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from detcli.errors import ConfigError

DEFAULT_PORT = 29500


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_distributed() -> bool:
    return get_dist_info()[1] > 1


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def master_only(func: Callable) -> Callable:
    """Run ``func`` on rank 0 only (other ranks get ``None``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if get_dist_info()[0] == 0:
            return func(*args, **kwargs)
        return None

    return wrapper


def default_backend(device: str | None = None) -> str:
    """NCCL for CUDA training, gloo for CPU training."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "nccl" if str(device).startswith("cuda") else "gloo"


def init_dist(launcher: str, backend: str | None = None, **kwargs: Any) -> None:
    """Join the process group described by ``launcher`` ('pytorch' or 'slurm').

    ``kwargs`` are ``dist_params`` from the config (``port`` is used by slurm;
    other keys go to ``init_process_group``).
    """
    backend = backend or default_backend()
    if backend == "nccl" and not torch.cuda.is_available():
        # configs say dist_params=dict(backend='nccl'); on a machine without GPUs that means gloo
        import logging

        logging.getLogger("detcli").info("no CUDA GPU: using the gloo backend instead of nccl")
        backend = "gloo"
    port = kwargs.pop("port", None)
    if launcher == "pytorch":
        _init_from_env(backend, **kwargs)
    elif launcher == "slurm":
        _init_slurm(backend, port, **kwargs)
    elif launcher == "mpi":
        _init_mpi(backend, **kwargs)
    else:
        raise ConfigError(f"unknown launcher {launcher!r}", hint="use none, pytorch or slurm")


def _require_env(*names: str) -> None:
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise ConfigError(
            f"--launcher pytorch needs the environment variables {', '.join(missing)}",
            hint="start with torchrun (or use --gpus N to let det start the processes itself)",
        )


def _set_cuda_device(local_rank: int, backend: str) -> None:
    if backend == "nccl" and torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())


def _init_from_env(backend: str, **kwargs: Any) -> None:
    _require_env("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    _set_cuda_device(get_local_rank(), backend)
    kwargs.setdefault("timeout", timedelta(minutes=30))
    dist.init_process_group(backend=backend, **kwargs)


def _slurm_master_addr(node_list: str) -> str:
    try:
        out = subprocess.run(
            ["scontrol", "show", "hostname", node_list], capture_output=True, text=True, check=True
        ).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.CalledProcessError):
        pass
    # "node[01-04,07]" -> "node01"; "a,b" -> "a"; a plain name stays itself
    head = node_list.split(",")[0]
    if "[" in head:
        prefix, rest = head.split("[", 1)
        return prefix + rest.split("-")[0].split(",")[0].rstrip("]")
    return head


def _init_slurm(backend: str, port: int | None = None, **kwargs: Any) -> None:
    missing = [n for n in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST") if n not in os.environ]
    if missing:
        raise ConfigError(
            f"--launcher slurm needs the environment variables {', '.join(missing)}",
            hint="start the job with srun",
        )
    proc_id = int(os.environ["SLURM_PROCID"])
    ntasks = int(os.environ["SLURM_NTASKS"])
    local_rank = int(os.environ.get("SLURM_LOCALID", proc_id % max(torch.cuda.device_count(), 1)))
    if port is not None:
        os.environ["MASTER_PORT"] = str(port)
    elif "MASTER_PORT" not in os.environ:
        os.environ["MASTER_PORT"] = os.environ.get("PORT", str(DEFAULT_PORT))
    os.environ.setdefault("MASTER_ADDR", _slurm_master_addr(os.environ["SLURM_NODELIST"]))
    os.environ.update(WORLD_SIZE=str(ntasks), RANK=str(proc_id), LOCAL_RANK=str(local_rank))
    _init_from_env(backend, **kwargs)


def _init_mpi(backend: str, **kwargs: Any) -> None:
    _require_env("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "MASTER_ADDR")
    os.environ.setdefault("MASTER_PORT", str(DEFAULT_PORT))
    os.environ["WORLD_SIZE"] = os.environ["OMPI_COMM_WORLD_SIZE"]
    os.environ["RANK"] = os.environ["OMPI_COMM_WORLD_RANK"]
    os.environ["LOCAL_RANK"] = os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", "0")
    _init_from_env(backend, **kwargs)


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(values: Mapping[str, float]) -> dict[str, float]:
    """Average scalar values over all ranks in one collective (identity on one process)."""
    if not is_distributed() or not values:
        return {k: float(v) for k, v in values.items()}
    packed = torch.tensor([float(v) for v in values.values()], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(packed)
    packed /= dist.get_world_size()
    return dict(zip(values.keys(), packed.tolist()))


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def all_reduce_max(value: float) -> float:
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def average_buffers(module: torch.nn.Module) -> None:
    """Average floating-point buffers (BN running statistics) over all ranks."""
    if not is_distributed():
        return
    world = dist.get_world_size()
    for buf in module.buffers():
        if buf.dtype.is_floating_point:
            dist.all_reduce(buf)
            buf.div_(world)


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Give every rank the buffers (BN statistics) of rank ``src`` before evaluating."""
    if not is_distributed():
        return
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            dist.broadcast(m.running_var, src)
            dist.broadcast(m.running_mean, src)


def reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over all processes (itself when not distributed); dense heads
    average their positive counts this way so every process normalises the losses alike."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return tensor
