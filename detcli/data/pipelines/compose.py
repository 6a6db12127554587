"""``Compose``: run transforms in order; a transform returning ``None`` drops the sample."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detcli.registry import PIPELINES, build_from_cfg


@PIPELINES.register_module()
class Compose:
    """A pipeline built from transform configs (dicts with ``type``) or callables."""

    def __init__(self, transforms: Sequence[Mapping | Callable]) -> None:
        if isinstance(transforms, (str, Mapping)) or not isinstance(transforms, Sequence):
            raise TypeError(f"a pipeline is a list of transforms, got {type(transforms).__name__}")
        self.transforms: list[Callable] = []
        for transform in transforms:
            if isinstance(transform, Mapping):
                self.transforms.append(build_from_cfg(transform, PIPELINES))
            elif callable(transform):
                self.transforms.append(transform)
            else:
                raise TypeError(f"a transform must be a config dict or callable, got {type(transform).__name__}")

    def __call__(self, data: dict[str, Any]) -> dict[str, Any] | None:
        for t in self.transforms:
            data = t(data)
            if data is None:
                return None
        return data

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}".replace("\n", "\n    ") if "Compose(" in repr(t) else f"\n    {t!r}"
                       for t in self.transforms)
        return f"Compose({body}\n)"


def replace_ImageToTensor(pipelines: Sequence[Mapping]) -> list[dict]:  # noqa: N802 - mmdetection 2.x name
    """A copy of a test pipeline config with ``ImageToTensor`` replaced by ``DefaultFormatBundle``.

    ``ImageToTensor`` leaves images unwrapped, so images of different sizes cannot be
    batched; ``DefaultFormatBundle`` lets ``collate`` pad them. Used when testing with
    more than one image per batch.
    """
    import copy
    import warnings

    out = []
    for step in copy.deepcopy(list(pipelines)):
        if step.get("type") == "MultiScaleFlipAug":
            step["transforms"] = replace_ImageToTensor(step["transforms"])
        elif step.get("type") == "ImageToTensor":
            warnings.warn('"ImageToTensor" cannot batch images of different sizes; it is replaced by '
                          '"DefaultFormatBundle" for batched testing', UserWarning, stacklevel=2)
            step = {"type": "DefaultFormatBundle"}
        out.append(step)
    return out
