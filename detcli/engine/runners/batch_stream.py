"""Batches for the training loop: one pass over a data loader, resumable in the middle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from detcli.errors import ConfigError


def check_workflow(data_loaders: list, workflow: list) -> list[tuple[str, int]]:
    """``workflow`` as ``[(mode, n), ...]`` after checking it against the loaders."""
    flows = []
    for item in workflow:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int)):
            raise ConfigError(f"workflow entries must look like ('train', 1), got {item!r}")
        if item[0] not in ("train", "val"):
            raise ConfigError(f"workflow mode {item[0]!r} is unknown", hint="use 'train' or 'val'")
        flows.append((item[0], item[1]))
    if len(data_loaders) != len(flows):
        raise ConfigError(f"workflow {flows} needs {len(flows)} data loaders, got {len(data_loaders)}")
    return flows


class BatchStream:
    """One pass over a data loader; batch ``i`` is fetched right after reseeding for step ``first_step + i``.

    The loader's iterator is created on construction (worker seeds are drawn then). A
    resumed pass starts at batch ``skip``: with ``exact`` the skipped batches are loaded
    and dropped under their own seeds, which reproduces an uninterrupted run bit for
    bit; otherwise only their indices are skipped (fast; same sample order, but the
    augmentation of the first batch after the skip can differ).
    """

    def __init__(self, loader: Any, seed_step: Any, first_step: int, skip: int = 0, exact: bool = False) -> None:
        self.seed_step, self.first_step = seed_step, first_step
        self.position = skip
        self._pending_skip = skip if exact else 0
        fast_skip = skip if not exact else 0
        self._reseed_after_first = fast_skip > 0
        self._it = iter(_skipping(loader, fast_skip)) if fast_skip else iter(loader)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Any:
        while self._pending_skip:
            self.seed_step(self.first_step + self.position - self._pending_skip)
            next(self._it)
            self._pending_skip -= 1
        if self._reseed_after_first:
            # the sampler draws the pass' order at the first fetch: give it the pass' first seed
            self.seed_step(self.first_step)
            batch = next(self._it)
            self.seed_step(self.first_step + self.position)
            self._reseed_after_first = False
        else:
            self.seed_step(self.first_step + self.position)
            batch = next(self._it)
        self.position += 1
        return batch


def _skipping(loader: Any, skip: int) -> Any:
    """``loader`` without its first ``skip`` batches, without loading them when possible."""
    from torch.utils.data import DataLoader

    if isinstance(loader, DataLoader) and loader.batch_sampler is not None:
        kwargs = dict(
            num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
            timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context, generator=loader.generator,
        )
        if loader.num_workers > 0:
            kwargs["prefetch_factor"] = loader.prefetch_factor
        return DataLoader(loader.dataset, batch_sampler=_SkipBatches(loader.batch_sampler, skip), **kwargs)
    return _DropFirst(loader, skip)


class _DropFirst:
    def __init__(self, loader: Any, skip: int) -> None:
        self.loader, self.skip = loader, skip

    def __iter__(self) -> Iterator:
        it = iter(self.loader)
        for _ in range(self.skip):
            next(it, None)
        yield from it


class _SkipBatches:
    """A batch sampler that drops the first ``skip`` batches of another (lazily, like BatchSampler)."""

    def __init__(self, batch_sampler: Any, skip: int) -> None:
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self) -> Iterator:
        it = iter(self.batch_sampler)
        for _ in range(self.skip):
            next(it, None)
        yield from it

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.skip, 0)
