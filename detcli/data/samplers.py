"""Samplers: aspect-ratio grouped batches (single process and distributed), a
distributed sampler for testing, and infinite batch samplers for iteration-based training.

Grouping: every batch holds images of one ``dataset.flag`` group (landscape or portrait),
so padding to the batch maximum wastes little. Groups are padded with repeats to whole
batches (per replica in the distributed case), as mmdetection 2.x does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _flags(dataset: Any) -> np.ndarray:
    flag = getattr(dataset, "flag", None)
    if flag is None:
        return np.zeros(len(dataset), dtype=np.int64)
    return np.asarray(flag, dtype=np.int64)


class GroupSampler(Sampler):
    """Shuffled indices in whole batches of one aspect group each (global ``np.random``)."""

    def __init__(self, dataset: Any, samples_per_gpu: int = 1) -> None:
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.flag = _flags(dataset)
        self.group_sizes = np.bincount(self.flag)
        self.num_samples = int(sum(math.ceil(s / samples_per_gpu) * samples_per_gpu for s in self.group_sizes))

    def __iter__(self) -> Iterator[int]:
        chunks = []
        for group, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            idx = np.flatnonzero(self.flag == group)
            np.random.shuffle(idx)
            extra = math.ceil(size / self.samples_per_gpu) * self.samples_per_gpu - size
            chunks.append(np.concatenate([idx, np.random.choice(idx, extra)]))
        indices = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        batches = indices.reshape(-1, self.samples_per_gpu)
        indices = batches[np.random.permutation(len(batches))].reshape(-1)
        return iter(indices.astype(np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples


class DistributedGroupSampler(Sampler):
    """Grouped batches split across ``num_replicas``; deterministic per ``seed + epoch``."""

    def __init__(self, dataset: Any, samples_per_gpu: int = 1, num_replicas: int | None = None,
                 rank: int | None = None, seed: int | None = 0) -> None:
        _rank, _world = get_dist_info()
        self.num_replicas = _world if num_replicas is None else num_replicas
        self.rank = _rank if rank is None else rank
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.epoch = 0
        self.seed = seed if seed is not None else 0
        self.flag = _flags(dataset)
        self.group_sizes = np.bincount(self.flag)
        per = samples_per_gpu * self.num_replicas
        self.num_samples = int(sum(math.ceil(s / per) * samples_per_gpu for s in self.group_sizes))
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.epoch + self.seed)
        per = self.samples_per_gpu * self.num_replicas
        indices: list[int] = []
        for group, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            idx = np.flatnonzero(self.flag == group)[torch.randperm(int(size), generator=g).numpy()].tolist()
            target = math.ceil(size / per) * per
            indices.extend(itertools.islice(itertools.cycle(idx), target))
        order = torch.randperm(len(indices) // self.samples_per_gpu, generator=g).tolist()
        indices = [indices[b * self.samples_per_gpu + j] for b in order for j in range(self.samples_per_gpu)]
        start = self.num_samples * self.rank
        return iter(indices[start:start + self.num_samples])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class DistributedSampler(torch.utils.data.DistributedSampler):
    """Each replica takes every ``num_replicas``-th index (padded by wrapping), for testing:
    rank ``r`` gets ``r, r + n, r + 2n, ...``, so gathered results interleave back in order."""

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0) -> None:
        _rank, _world = get_dist_info()
        super().__init__(dataset, num_replicas=_world if num_replicas is None else num_replicas,
                         rank=_rank if rank is None else rank, shuffle=shuffle, seed=seed or 0)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.epoch + self.seed)
            indices = torch.randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        indices = (indices * math.ceil(self.total_size / max(len(indices), 1)))[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])


class InfiniteGroupBatchSampler(Sampler):
    """Endless grouped batches for iteration-based training (each rank its own slice)."""

    def __init__(self, dataset: Any, batch_size: int = 1, world_size: int | None = None, rank: int | None = None,
                 seed: int | None = 0, shuffle: bool = True) -> None:
        _rank, _world = get_dist_info()
        self.rank = _rank if rank is None else rank
        self.world_size = _world if world_size is None else world_size
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed if seed is not None else 0
        self.shuffle = shuffle
        self.flag = _flags(dataset)
        self.group_sizes = np.bincount(self.flag)
        self.buffer_per_group: dict[int, list[int]] = {k: [] for k in range(len(self.group_sizes))}
        self.size = len(dataset)

    def _indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed)
        while True:
            order = torch.randperm(self.size, generator=g) if self.shuffle else torch.arange(self.size)
            yield from order.tolist()

    def __iter__(self) -> Iterator[list[int]]:
        stream = itertools.islice(self._indices(), self.rank, None, self.world_size)
        for idx in stream:
            buf = self.buffer_per_group[int(self.flag[idx])]
            buf.append(idx)
            if len(buf) == self.batch_size:
                yield buf[:]
                del buf[:]

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """Endless streams have no epochs: nothing to do."""


class InfiniteBatchSampler(InfiniteGroupBatchSampler):
    """Endless batches without aspect grouping."""

    def __init__(self, dataset: Any, batch_size: int = 1, world_size: int | None = None, rank: int | None = None,
                 seed: int | None = 0, shuffle: bool = True) -> None:
        super().__init__(dataset, batch_size, world_size, rank, seed, shuffle)
        self.flag = np.zeros(len(dataset), dtype=np.int64)
        self.buffer_per_group = {0: []}
