"""Dataset wrappers: concatenate, repeat, and class-balanced oversampling."""

from __future__ import annotations

import bisect
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import ConcatDataset as _TorchConcat

from detcli.errors import ConfigError
from detcli.registry import DATASETS

logger = logging.getLogger("detcli")


@DATASETS.register_module()
class ConcatDataset(_TorchConcat):
    """Datasets one after another; ``flag`` concatenated; CLASSES of the first.

    ``separate_eval=True`` evaluates each part on its slice of the results (keys get a
    ``<i>_`` prefix); ``False`` evaluates all as one (same non-COCO type only).
    """

    def __init__(self, datasets: Sequence[Any], separate_eval: bool = True) -> None:
        super().__init__(datasets)
        self.CLASSES = datasets[0].CLASSES
        self.PALETTE = getattr(datasets[0], "PALETTE", None)
        self.separate_eval = separate_eval
        if not separate_eval:
            self._check_joint_eval()
        if all(hasattr(d, "flag") for d in datasets):
            self.flag = np.concatenate([d.flag for d in datasets])

    def _check_joint_eval(self) -> None:
        from detcli.data.datasets.coco import CocoDataset

        if any(isinstance(d, CocoDataset) for d in self.datasets):
            raise ConfigError("concatenated COCO datasets cannot be evaluated as a whole",
                              hint="set separate_eval=True")
        if len({type(d) for d in self.datasets}) != 1:
            raise ConfigError("separate_eval=False needs datasets of one type",
                              hint="set separate_eval=True")

    def _locate(self, idx: int) -> tuple[int, int]:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        part = bisect.bisect_right(self.cumulative_sizes, idx)
        return part, idx - (self.cumulative_sizes[part - 1] if part else 0)

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        part, i = self._locate(idx)
        return self.datasets[part].get_ann_info(i)

    def get_cat_ids(self, idx: int) -> list[int]:
        part, i = self._locate(idx)
        return self.datasets[part].get_cat_ids(i)

    def evaluate(self, results: list, logger: Any = None, **kwargs: Any) -> dict[str, Any]:
        if len(results) != self.cumulative_sizes[-1]:
            raise ValueError(f"{len(results)} results for a dataset of {self.cumulative_sizes[-1]} images")
        if self.separate_eval:
            out: dict[str, Any] = {}
            start = 0
            for i, (end, dataset) in enumerate(zip(self.cumulative_sizes, self.datasets)):
                part = dataset.evaluate(results[start:end], logger=logger, **kwargs)
                out.update({f"{i}_{k}": v for k, v in part.items()})
                start = end
            return out
        self._check_joint_eval()
        first = self.datasets[0]
        original = first.data_infos
        first.data_infos = sum((d.data_infos for d in self.datasets), [])
        try:
            return first.evaluate(results, logger=logger, **kwargs)
        finally:
            first.data_infos = original


@DATASETS.register_module()
class RepeatDataset:
    """The dataset ``times`` times over (one long epoch instead of many short ones)."""

    def __init__(self, dataset: Any, times: int) -> None:
        self.dataset = dataset
        self.times = int(times)
        self.CLASSES = dataset.CLASSES
        self.PALETTE = getattr(dataset, "PALETTE", None)
        self._ori_len = len(dataset)
        if hasattr(dataset, "flag"):
            self.flag = np.tile(dataset.flag, self.times)

    def __getitem__(self, idx: int) -> Any:
        return self.dataset[idx % self._ori_len]

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        return self.dataset.get_ann_info(idx % self._ori_len)

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def __len__(self) -> int:
        return self.times * self._ori_len


@DATASETS.register_module()
class ClassBalancedDataset:
    """Repeat images of rare categories (LVIS repeat-factor sampling).

    With ``f(c)`` the fraction of images containing category ``c``, category repeat
    ``r(c) = max(1, sqrt(oversample_thr / f(c)))``; image repeat ``r(I) = max r(c)`` over
    its categories; each image appears ``ceil(r(I))`` times. With ``filter_empty_gt=False``
    images without annotations count as one extra category.
    """

    def __init__(self, dataset: Any, oversample_thr: float, filter_empty_gt: bool = True) -> None:
        self.dataset = dataset
        self.oversample_thr = oversample_thr
        self.filter_empty_gt = filter_empty_gt
        self.CLASSES = dataset.CLASSES
        self.PALETTE = getattr(dataset, "PALETTE", None)
        factors = self._get_repeat_factors(dataset, oversample_thr)
        counts = [math.ceil(f) for f in factors]
        self.repeat_indices = [i for i, n in enumerate(counts) for _ in range(n)]
        flags = getattr(dataset, "flag", None)
        self.flag = (np.repeat(np.asarray(flags), counts) if flags is not None else np.zeros(0)).astype(np.uint8)

    def _cats(self, dataset: Any, idx: int) -> set:
        cats = set(dataset.get_cat_ids(idx))
        if not cats and not self.filter_empty_gt:
            cats = {len(self.CLASSES)}
        return cats

    def _get_repeat_factors(self, dataset: Any, repeat_thr: float) -> list[float]:
        num_images = len(dataset)
        per_image = [self._cats(dataset, i) for i in range(num_images)]
        freq: dict[Any, int] = defaultdict(int)
        for cats in per_image:
            for c in cats:
                freq[c] += 1
        cat_repeat = {c: max(1.0, math.sqrt(repeat_thr / (n / num_images))) for c, n in freq.items()}
        return [max((cat_repeat[c] for c in cats), default=1) for cats in per_image]

    def __getitem__(self, idx: int) -> Any:
        return self.dataset[self.repeat_indices[idx]]

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        return self.dataset.get_ann_info(self.repeat_indices[idx])

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(self.repeat_indices[idx])

    def __len__(self) -> int:
        return len(self.repeat_indices)
