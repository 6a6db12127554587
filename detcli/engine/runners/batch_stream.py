"""Batches for the training loop: one pass over a data loader, resumable in the middle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    resumed pass starts at batch ``skip``. Normally only the indices of the skipped
    batches are drawn and dropped, and the main process is reseeded before batch
    ``skip`` loads: exact when batches load in the main process (``num_workers=0``).
    Worker processes carry random state from batch to batch, so with workers and
    ``exact`` the skipped batches are loaded and dropped instead (slower, bit-exact).
    """

    def __init__(self, loader: Any, seed_step: Any, first_step: int, skip: int = 0, exact: bool = False) -> None:
        self.seed_step, self.first_step = seed_step, first_step
        self.position = skip
        # loader workers take their seeds from the main generator when the iterator starts:
        # seed it by the pass, so a resumed pass gives its workers the same seeds
        seed_step(first_step)
        workers = getattr(loader, "num_workers", 0)
        load_skipped = bool(skip) and exact and workers > 0 and skip <= len(loader)
        self._pending_skip = skip if load_skipped else 0
        fast_skip = 0 if load_skipped else skip
        # in-process loading draws the pass' sample order at the first fetch: under the pass' first seed,
        # then `after_skip` reseeds for batch `skip` before its data loads (workers draw at creation)
        self._first_seed = first_step if fast_skip and workers == 0 else None
        if fast_skip:
            self._it = iter(_skipping(loader, fast_skip, after_skip=lambda: seed_step(first_step + skip)))
        else:
            self._it = iter(loader)

    def __iter__(self) -> BatchStream:
        return self

    def close(self) -> None:
        """Stop the loader's worker processes (after an error ends the pass early)."""
        from detcli.data.loader import release_workers

        release_workers(self._it)

    def __next__(self) -> Any:
        while self._pending_skip:
            self.seed_step(self.first_step + self.position - self._pending_skip)
            next(self._it)
            self._pending_skip -= 1
        if self._first_seed is not None:
            self.seed_step(self._first_seed)
            self._first_seed = None
        else:
            self.seed_step(self.first_step + self.position)
        batch = next(self._it)
        self.position += 1
        return batch


def _skipping(loader: Any, skip: int, after_skip: Callable[[], None]) -> Any:
    """``loader`` without its first ``skip`` batches (their indices are drawn, their data is not loaded)."""
    from torch.utils.data import DataLoader

    if isinstance(loader, DataLoader) and loader.batch_sampler is not None:
        kwargs = dict(
            num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
            timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context, generator=loader.generator,
        )
        if loader.num_workers > 0:
            kwargs["prefetch_factor"] = loader.prefetch_factor
        batches = _SkipBatches(loader.batch_sampler, skip, after_skip)
        return DataLoader(loader.dataset, batch_sampler=batches, **kwargs)
    return _DropFirst(loader, skip, after_skip)


class _DropFirst:
    """Fallback for loaders that are not torch DataLoaders: load and drop the first batches."""

    def __init__(self, loader: Any, skip: int, after_skip: Callable[[], None]) -> None:
        self.loader, self.skip, self.after_skip = loader, skip, after_skip

    def __iter__(self) -> Iterator:
        it = iter(self.loader)
        for _ in range(self.skip):
            next(it, None)
        self.after_skip()
        yield from it


class _SkipBatches:
    """A batch sampler that drops the first ``skip`` batches of another (lazily, like BatchSampler)."""

    def __init__(self, batch_sampler: Any, skip: int, after_skip: Callable[[], None]) -> None:
        self.batch_sampler, self.skip, self.after_skip = batch_sampler, skip, after_skip

    def __iter__(self) -> Iterator:
        it = iter(self.batch_sampler)
        for _ in range(self.skip):
            next(it, None)
        self.after_skip()
        yield from it

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.skip, 0)
