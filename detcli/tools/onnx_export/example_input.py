"""The example image a model is traced and verified on: resized to the export shape, normalised.

As mmdetection's export does, the image is resized to exactly ``(H, W)`` (no aspect ratio
kept, no padding) and normalised with the ``Normalize`` step of the config's test
pipeline; its meta says the image fills the input (``scale_factor`` 1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from detcli.errors import ConfigError


def _test_steps(cfg: Any) -> list[Mapping]:
    try:
        test = cfg.data.test
    except (AttributeError, KeyError):
        raise ConfigError("the config has no data.test pipeline to read the input normalisation from",
                          hint="add data=dict(test=dict(pipeline=[...])) (see configs/_base_/datasets)") from None
    test = test[0] if isinstance(test, (list, tuple)) else test
    steps: list[Mapping] = []
    for step in test.get("pipeline", []):
        steps.append(step)
        steps.extend(step.get("transforms", []))  # MultiScaleFlipAug's inner steps
    return steps


def normalize_cfg(cfg: Any) -> dict:
    """The test pipeline's ``Normalize`` settings (``mean``, ``std``, ``to_rgb``)."""
    found = [dict(step) for step in _test_steps(cfg) if step.get("type") == "Normalize"]
    if len(found) != 1:
        raise ConfigError(f"the test pipeline has {len(found)} Normalize steps; the export needs exactly one",
                          hint="the exported model takes the image normalised as that step does")
    found[0].pop("type")
    return found[0]


def size_divisor(cfg: Any) -> int | None:
    """The test pipeline's ``Pad(size_divisor=...)``, if any."""
    for step in _test_steps(cfg):
        if step.get("type") == "Pad" and step.get("size_divisor"):
            return int(step["size_divisor"])
    return None


def input_shape(shape: Sequence[int], divisor: int | None) -> tuple[int, int]:
    """``(H, W)`` from ``--shape H W`` or ``--shape S``, checked against the pipeline's padding."""
    if len(shape) == 1:
        h = w = int(shape[0])
    elif len(shape) == 2:
        h, w = (int(v) for v in shape)
    else:
        raise ConfigError(f"--shape takes one or two numbers (H W), got {len(shape)}", hint="e.g. --shape 800 1216")
    if h <= 0 or w <= 0:
        raise ConfigError(f"--shape must be positive, got {h} {w}")
    if divisor and (h % divisor or w % divisor):
        up = [-(-v // divisor) * divisor for v in (h, w)]
        raise ConfigError(f"--shape {h} {w} is not a multiple of {divisor}, which the test pipeline pads to",
                          hint=f"use --shape {up[0]} {up[1]}")
    return h, w


def default_image(size: int = 512) -> np.ndarray:
    """A generated scene of the shapes set (BGR), used when no ``--input-img`` is given."""
    from detcli.data.synthetic.shapes import sample_scene

    return sample_scene(size, np.random.default_rng(0))[0]


def prepare_input(image: str | os.PathLike | np.ndarray | None, shape: tuple[int, int],
                  norm: Mapping) -> tuple[torch.Tensor, dict, np.ndarray]:
    """``(img (1, 3, H, W), meta, resized BGR image)`` for ``image`` (a path, BGR array, or None)."""
    from detcli.data.pipelines.image_ops import imnormalize, imresize
    from detcli.visualization import read_bgr

    bgr = default_image() if image is None else read_bgr(image)
    h, w = shape
    resized = imresize(bgr, (w, h))
    mean = np.asarray(norm["mean"], dtype=np.float32)
    std = np.asarray(norm["std"], dtype=np.float32)
    pixels = imnormalize(resized, mean, std, bool(norm.get("to_rgb", True)))
    img = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]
    meta = {
        "filename": "<onnx export input>", "ori_filename": "<onnx export input>",
        "img_shape": (h, w, 3), "ori_shape": (h, w, 3), "pad_shape": (h, w, 3),
        "scale_factor": np.ones(4, dtype=np.float32), "flip": False, "flip_direction": None,
        "img_norm_cfg": {"mean": mean, "std": std, "to_rgb": bool(norm.get("to_rgb", True))},
        "batch_input_shape": (h, w),
    }
    return img, meta, resized
