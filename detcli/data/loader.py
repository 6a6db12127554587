"""``build_dataloader``: samplers, collate and reproducible worker seeding."""

from __future__ import annotations

import numbers
import random
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from detcli.data.collate import collate
from detcli.data.samplers import (
    DistributedGroupSampler,
    DistributedSampler,
    GroupSampler,
    InfiniteBatchSampler,
    InfiniteGroupBatchSampler,
    get_dist_info,
)


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """Seed numpy and ``random`` of a loader worker from torch's own per-worker seed.

    torch draws each worker's seed from the main process's generator when an epoch's
    iterator starts, so a seeded run replays exactly while every epoch (and worker, and
    rank) still gets fresh augmentation draws; a fixed ``seed + worker_id`` would repeat
    the same flips and crops every epoch.
    """
    worker_seed = (torch.initial_seed() + seed + num_workers * rank) % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def release_workers(iterator: Any) -> None:
    """Stop the worker processes of a DataLoader iterator now.

    After an error the iterator lives on in the traceback, and its workers would be stopped
    only when it is garbage-collected, perhaps during a later run in the same process, where
    joining them can then wait seconds. Iterators without workers are left alone.
    """
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if callable(shutdown):
        shutdown()


def _check_count(name: str, value: Any, minimum: int) -> None:
    """A batch size or worker count from the config: a whole number, caught before torch trips on it."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum:
        return
    from detcli.errors import ConfigError

    raise ConfigError(f"data.{name}={value!r} should be a whole number >= {minimum}",
                      hint=f"fix data.{name} (or data.*_dataloader.{name}) in the config or --cfg-options")


def build_dataloader(dataset: Any, samples_per_gpu: int, workers_per_gpu: int, num_gpus: int = 1, dist: bool = False,
                     shuffle: bool = True, seed: int | None = None, runner_type: str = "EpochBasedRunner",
                     persistent_workers: bool = False, class_aware_sampler: dict | None = None,
                     **kwargs: Any) -> DataLoader:
    """A DataLoader for one process.

    ``dist``: this process loads ``samples_per_gpu`` images of its rank's share
    (DistributedGroupSampler when shuffling, DistributedSampler otherwise); without it
    one process loads ``num_gpus * samples_per_gpu``. Shuffled batches are aspect-grouped.
    ``runner_type='IterBasedRunner'`` uses endless batch samplers. With ``seed`` the
    workers are seeded reproducibly.
    """
    _check_count("samples_per_gpu", samples_per_gpu, 1)
    _check_count("workers_per_gpu", workers_per_gpu, 0)
    if class_aware_sampler is not None:
        from detcli.errors import ConfigError

        raise ConfigError("class_aware_sampler is not supported",
                          hint="remove it from data.train_dataloader, or use ClassBalancedDataset for rare classes")
    rank, world_size = get_dist_info()
    if dist:
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    sampler = batch_sampler = None
    if runner_type == "IterBasedRunner":
        cls = InfiniteGroupBatchSampler if shuffle else InfiniteBatchSampler
        batch_sampler = cls(dataset, batch_size, world_size, rank, seed=seed, shuffle=shuffle)
        batch_size = 1
    elif dist:
        sampler = (DistributedGroupSampler(dataset, samples_per_gpu, world_size, rank, seed=seed) if shuffle
                   else DistributedSampler(dataset, world_size, rank, shuffle=False, seed=seed or 0))
    elif shuffle:
        sampler = GroupSampler(dataset, batch_size)
    init_fn = partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed) if seed is not None else None
    loader_kwargs: dict[str, Any] = dict(
        batch_size=batch_size, sampler=sampler, batch_sampler=batch_sampler, num_workers=num_workers,
        collate_fn=partial(collate, samples_per_gpu=samples_per_gpu), pin_memory=kwargs.pop("pin_memory", False),
        worker_init_fn=init_fn, persistent_workers=persistent_workers and num_workers > 0,
    )
    if batch_sampler is not None:
        loader_kwargs.pop("batch_size")
        loader_kwargs.pop("sampler")
    loader_kwargs.update(kwargs)
    return DataLoader(dataset, **loader_kwargs)
