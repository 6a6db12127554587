"""Images that cannot be read (missing, truncated, not an image), counted across loader workers.

By default the first such image stops the run with one line naming the file, its dataset
index and the setting that skips. With ``skip_bad_images=True`` in the dataset config a
training sample is replaced by another image and a test image by a blank one; the
dataset counts them in a ``BadImageTally`` that lives in shared memory, so images
skipped inside DataLoader worker processes are counted too, and the count with the first
few paths is reported at the end of each epoch (and of each test run).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os.path as osp
from collections.abc import Sequence
from typing import Any

FIRST_FEW = 5


class BadImageTally:
    """A count of skipped images plus the dataset indices of the first ``FIRST_FEW``,
    shared by the process that made it and the loader workers it starts."""

    def __init__(self) -> None:
        self._count = mp.Value("q", 0)
        self._first = mp.Array("q", FIRST_FEW)

    def record(self, index: int) -> None:
        with self._count.get_lock():
            if self._count.value < FIRST_FEW:
                self._first[self._count.value] = index
            self._count.value += 1

    def take(self) -> tuple[int, list[int]]:
        """The count and first indices since the last ``take``; resets both."""
        with self._count.get_lock():
            count = self._count.value
            first = list(self._first[: min(count, FIRST_FEW)])
            self._count.value = 0
        return count, first

    def __deepcopy__(self, memo: dict) -> BadImageTally:
        return self  # one tally per dataset, whoever copies it


def leaf_datasets(dataset: Any) -> list[Any]:
    """The datasets inside wrappers (Concat/Repeat/ClassBalanced), or ``dataset`` itself."""
    inner = getattr(dataset, "datasets", None)
    if isinstance(inner, Sequence):
        return [leaf for d in inner for leaf in leaf_datasets(d)]
    if getattr(dataset, "dataset", None) is not None:
        return leaf_datasets(dataset.dataset)
    return [dataset]


def image_path(dataset: Any, index: int) -> str:
    names = dataset.data_infos[index]["filename"]
    name = names[0] if isinstance(names, list) else names
    prefix = getattr(dataset, "img_prefix", None)
    return osp.join(prefix, name) if prefix else name


def report_bad_images(dataset: Any, when: str, log: logging.Logger | None = None) -> int:
    """Log (once) how many images ``dataset`` skipped since the last report; returns the count."""
    total = 0
    for leaf in leaf_datasets(dataset):
        tally = getattr(leaf, "bad_images", None)
        if tally is None:
            continue
        count, first = tally.take()
        if not count:
            continue
        total += count
        action = "replaced by blank images" if getattr(leaf, "test_mode", False) else "skipped"
        shown = list(dict.fromkeys(image_path(leaf, i) for i in first))  # a redrawn sample may repeat
        paths = ", ".join(shown) + (", ..." if count > len(first) else "")
        (log or logging.getLogger("detcli")).warning(
            "%s: %d sample(s) of %s had an unreadable image and were %s (skip_bad_images=True): %s",
            when, count, getattr(leaf, "ann_file", None) or type(leaf).__name__, action, paths)
    return total


__all__ = ["BadImageTally", "report_bad_images", "leaf_datasets", "image_path", "FIRST_FEW"]
