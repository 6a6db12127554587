"""Batching pipeline outputs into what a detector's ``forward`` takes, and moving batches.

``collate`` turns a list of per-image dicts into one dict of plain structures:
stackable ``DataContainer``s become padded batch tensors, the rest per-image lists.
Test-time augmentation outputs (every value a list over augmentations) become lists
over augmentations of batched values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import default_collate

from detcli.data.data_container import DataContainer


def collate(batch: Sequence[Any], samples_per_gpu: int | None = None) -> Any:
    """Batch a list of samples (dicts from a pipeline) for one device.

    ``samples_per_gpu`` is accepted for mmdetection compatibility; the batch is never
    split (each process loads its own batch).
    """
    if not isinstance(batch, Sequence) or isinstance(batch, str) or len(batch) == 0:
        raise TypeError(f"collate expects a non-empty list of samples, got {type(batch).__name__}")
    first = batch[0]
    if isinstance(first, DataContainer):
        return _collate_containers(batch)
    if isinstance(first, Mapping):
        return {key: collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (list, tuple)) and first:
        # e.g. one entry per test-time augmentation: batch each position separately
        return [collate(list(per_aug)) for per_aug in zip(*batch)]
    if (isinstance(first, torch.Tensor) and first.dim() >= 3 and all(isinstance(t, torch.Tensor) for t in batch)
            and len({t.shape for t in batch}) > 1):
        # unwrapped images of different sizes (ImageToTensor): pad like DefaultFormatBundle would
        return stack_padded(list(batch), 0, 2)
    return default_collate(list(batch))


def _collate_containers(batch: Sequence[DataContainer]) -> Any:
    first = batch[0]
    if not first.stack or first.cpu_only:
        return [sample.data for sample in batch]
    tensors = [sample.data for sample in batch]
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("a stacked DataContainer must hold tensors")
    if first.pad_dims is None:
        return torch.stack(tensors)
    return stack_padded(tensors, first.padding_value, first.pad_dims)


def stack_padded(tensors: Sequence[torch.Tensor], pad_value: float = 0, pad_dims: int = 2) -> torch.Tensor:
    """Pad the last ``pad_dims`` dims of each tensor (at the end) to the batch maximum and stack."""
    lead = tensors[0].shape[:-pad_dims]
    for t in tensors:
        if t.shape[:-pad_dims] != lead:
            raise ValueError(f"cannot stack tensors of shapes {tensors[0].shape} and {t.shape}")
    max_tail = [max(t.shape[d] for t in tensors) for d in range(-pad_dims, 0)]
    out = tensors[0].new_full((len(tensors), *lead, *max_tail), pad_value)
    for i, t in enumerate(tensors):
        out[(i, ...) + tuple(slice(0, s) for s in t.shape[-pad_dims:])] = t
    return out


def to_device(batch: Any, device: str | torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor in a (nested) batch to ``device``; metas, masks and arrays stay put."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: (v if k == "img_metas" else to_device(v, device, non_blocking)) for k, v in batch.items()}
    if isinstance(batch, list):
        return [to_device(v, device, non_blocking) for v in batch]
    if isinstance(batch, tuple):
        return tuple(to_device(v, device, non_blocking) for v in batch)
    if isinstance(batch, DataContainer):  # an uncollated sample
        return batch if batch.cpu_only else DataContainer(
            to_device(batch.data, device, non_blocking), batch.stack, batch.padding_value, batch.cpu_only, batch.pad_dims)
    return batch


def unwrap(sample: Any) -> Any:
    """A pipeline output with every ``DataContainer`` replaced by its data (for inspection)."""
    if isinstance(sample, DataContainer):
        return sample.data
    if isinstance(sample, Mapping):
        return {k: unwrap(v) for k, v in sample.items()}
    if isinstance(sample, list):
        return [unwrap(v) for v in sample]
    return sample


__all__ = ["collate", "to_device", "stack_padded", "unwrap"]
