"""``DataContainer``: a pipeline value plus the instructions for batching it.

Formatting transforms wrap each output in one, so that ``collate`` knows whether to
stack it into a padded tensor (images, segmentation maps), keep it as a per-image list
(boxes, labels, masks) and whether it must stay on the CPU (metas, masks).
"""

from __future__ import annotations

from typing import Any

import torch


class DataContainer:
    """A value and how to batch it (mmcv 1.x semantics and argument names).

    Args:
        data: the wrapped value (tensor, array, masks, dict...).
        stack: stack the per-image tensors into one batch tensor (after padding).
        padding_value: fill value for padding when stacking.
        cpu_only: keep on the CPU when a batch is moved to a device.
        pad_dims: how many trailing dims to pad to the batch maximum (None: no padding).
    """

    def __init__(
        self,
        data: Any,
        stack: bool = False,
        padding_value: float = 0,
        cpu_only: bool = False,
        pad_dims: int | None = 2,
    ) -> None:
        if pad_dims not in (None, 1, 2, 3):
            raise ValueError(f"pad_dims must be None, 1, 2 or 3, got {pad_dims!r}")
        self._data = data
        self._stack = stack
        self._padding_value = padding_value
        self._cpu_only = cpu_only
        self._pad_dims = pad_dims

    @property
    def data(self) -> Any:
        return self._data

    @property
    def datatype(self) -> Any:
        return self._data.type() if isinstance(self._data, torch.Tensor) else type(self._data)

    @property
    def stack(self) -> bool:
        return self._stack

    @property
    def padding_value(self) -> float:
        return self._padding_value

    @property
    def cpu_only(self) -> bool:
        return self._cpu_only

    @property
    def pad_dims(self) -> int | None:
        return self._pad_dims

    def size(self, *args: Any) -> torch.Size:
        return self._tensor("size").size(*args)

    def dim(self) -> int:
        return self._tensor("dim").dim()

    def _tensor(self, what: str) -> torch.Tensor:
        if not isinstance(self._data, torch.Tensor):
            raise AttributeError(f"DataContainer has no {what}() for data of type {self.datatype}")
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"DataContainer({self._data!r})"
