"""Formatting transforms: arrays to tensors, ``DataContainer`` wrapping, and ``Collect``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from detcli.data.data_container import DataContainer
from detcli.registry import PIPELINES

DEFAULT_META_KEYS = ("filename", "ori_filename", "ori_shape", "img_shape", "pad_shape", "scale_factor", "flip",
                     "flip_direction", "img_norm_cfg")


def to_tensor(data: Any) -> torch.Tensor:
    """A tensor from a tensor, array, sequence or Python number."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, (bool, int, np.integer)):
        return torch.LongTensor([int(data)])
    if isinstance(data, (float, np.floating)):
        return torch.FloatTensor([float(data)])
    raise TypeError(f"cannot convert {type(data).__name__} to a tensor")


def _image_to_chw(img: np.ndarray) -> torch.Tensor:
    if img.ndim < 3:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@PIPELINES.register_module()
class ToTensor:
    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = keys

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            results[key] = to_tensor(results[key])
        return results

    def __repr__(self) -> str:
        return f"ToTensor(keys={self.keys})"


@PIPELINES.register_module()
class ImageToTensor:
    """HxWxC arrays to CxHxW tensors (dtype unchanged)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = keys

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            results[key] = _image_to_chw(results[key])
        return results

    def __repr__(self) -> str:
        return f"ImageToTensor(keys={self.keys})"


@PIPELINES.register_module()
class Transpose:
    def __init__(self, keys: Sequence[str], order: Sequence[int]) -> None:
        self.keys = keys
        self.order = order

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            value = results[key]
            results[key] = value.permute(*self.order) if isinstance(value, torch.Tensor) else value.transpose(self.order)
        return results

    def __repr__(self) -> str:
        return f"Transpose(keys={self.keys}, order={self.order})"


@PIPELINES.register_module()
class ToDataContainer:
    """Wrap the given keys in ``DataContainer``s (``dict(key=..., **DataContainer kwargs)``)."""

    def __init__(self, fields: Sequence[dict] = (dict(key="img", stack=True), dict(key="gt_bboxes"),
                                                 dict(key="gt_labels"))) -> None:
        self.fields = fields

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for field in self.fields:
            kwargs = dict(field)
            key = kwargs.pop("key")
            results[key] = DataContainer(results[key], **kwargs)
        return results

    def __repr__(self) -> str:
        return f"ToDataContainer(fields={self.fields})"


@PIPELINES.register_module()
class DefaultFormatBundle:
    """The usual formatting for training and testing.

    ``img``: CxHxW float tensor, stacked and padded with ``pad_val['img']``;
    ``proposals``/``gt_bboxes``/``gt_bboxes_ignore``/``gt_labels``: tensors, one per image;
    ``gt_masks``: kept as masks, CPU only; ``gt_semantic_seg``: 1xHxW tensor, stacked,
    padded with ``pad_val['seg']``. Also fills ``pad_shape``, ``scale_factor`` and
    ``img_norm_cfg`` when no earlier step set them.
    """

    def __init__(self, img_to_float: bool = True, pad_val: dict | None = None) -> None:
        self.img_to_float = img_to_float
        self.pad_val = dict(img=0, masks=0, seg=255) if pad_val is None else pad_val

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img" in results:
            img = results["img"]
            if self.img_to_float and img.dtype == np.uint8:
                img = img.astype(np.float32)
            self._add_default_meta_keys(results)
            results["img"] = DataContainer(_image_to_chw(img), padding_value=self.pad_val["img"], stack=True)
        for key in ("proposals", "gt_bboxes", "gt_bboxes_ignore", "gt_labels"):
            if key in results:
                results[key] = DataContainer(to_tensor(results[key]))
        if "gt_masks" in results:
            results["gt_masks"] = DataContainer(results["gt_masks"], padding_value=self.pad_val["masks"], cpu_only=True)
        if "gt_semantic_seg" in results:
            seg = np.ascontiguousarray(results["gt_semantic_seg"][None, ...])
            results["gt_semantic_seg"] = DataContainer(to_tensor(seg), padding_value=self.pad_val["seg"], stack=True)
        return results

    @staticmethod
    def _add_default_meta_keys(results: dict[str, Any]) -> None:
        img = results["img"]
        results.setdefault("pad_shape", img.shape)
        results.setdefault("scale_factor", 1.0)
        channels = 1 if img.ndim < 3 else img.shape[2]
        results.setdefault("img_norm_cfg", dict(mean=np.zeros(channels, np.float32), std=np.ones(channels, np.float32),
                                                to_rgb=False))

    def __repr__(self) -> str:
        return f"DefaultFormatBundle(img_to_float={self.img_to_float})"


@PIPELINES.register_module()
class Collect:
    """Keep only ``keys`` plus an ``img_metas`` DataContainer (CPU only) of ``meta_keys``."""

    def __init__(self, keys: Sequence[str], meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.keys = keys
        self.meta_keys = meta_keys

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in (*self.meta_keys, *self.keys) if k not in results]
        if missing:
            raise KeyError(f"Collect: the sample has no {missing} (present: {sorted(results)}); "
                           "an earlier transform should have added them")
        data = {"img_metas": DataContainer({k: results[k] for k in self.meta_keys}, cpu_only=True)}
        for key in self.keys:
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f"Collect(keys={self.keys}, meta_keys={self.meta_keys})"


@PIPELINES.register_module()
class WrapFieldsToLists:
    """Wrap every value in a one-element list (the test-time format without MultiScaleFlipAug)."""

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        return {key: [value] for key, value in results.items()}

    def __repr__(self) -> str:
        return "WrapFieldsToLists()"
