"""``det convert detectron SRC DST DEPTH``: Detectron (caffe2) ResNet weights to torchvision-style keys.

Detectron's ImageNet ResNets are Python-2 pickles of numpy arrays named ``conv1_w``,
``res_conv1_bn_{s,b}``, ``res<stage+1>_<block>_branch2{a,b,c}_w`` (+ ``_bn_{s,b}``) and
``res<stage+1>_0_branch1_w`` (+ ``_bn_{s,b}``) for the shortcut. Their batch norms are
frozen affine layers (scale, bias), so the converted ``bn`` layers get running mean 0 and
variance 1, as mmdetection 2.x's ``detectron2pytorch.py`` writes them.

The pickle is read with an unpickler that builds numpy arrays, dicts, strings and numbers
only: a file that asks for any other object is refused instead of run.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np

from detcli.errors import CheckpointError

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

# What building numpy arrays from a pickle needs (numpy 1.x and 2.x spellings).
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2 (a pure str -> bytes function)
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals that numpy arrays need; everything else is an error."""

    def find_class(self, module: str, name: str) -> Any:
        canonical = module.replace("numpy.core.", "numpy._core.", 1) if module.startswith("numpy.core.") else module
        if (canonical, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: the file may only hold numpy arrays")
        if canonical != module and int(np.__version__.split(".")[0]) < 2:
            canonical = module  # numpy 1.x only has numpy.core
        return super().find_class(canonical, name)


def load_blobs(path: str | os.PathLike) -> dict[str, Any]:
    """The ``name -> array`` dict of a Detectron pickle (``{'blobs': {...}}`` or the dict itself)."""
    try:
        with open(path, "rb") as fh:
            data = _ArraysOnlyUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise CheckpointError(f"Detectron weights file not found: {path}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"cannot read {path} as a Detectron pickle: {err}",
                              hint="SRC is a Detectron ImageNet model such as R-50.pkl") from None
    blobs = data.get("blobs", data) if isinstance(data, dict) else None
    if not isinstance(blobs, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not a dict of named arrays")
    return blobs


def convert_detectron_blobs(blobs: dict[str, Any], depth: int, source: str = "the file"
                            ) -> tuple[OrderedDict, list[str]]:
    """``(torchvision-style state_dict, blob names left out)`` for a ResNet of ``depth``."""
    import torch

    if depth not in STAGE_BLOCKS:
        raise CheckpointError(f"no Detectron ResNet of depth {depth}", hint=f"DEPTH is one of {sorted(STAGE_BLOCKS)}")
    state: OrderedDict = OrderedDict()
    used: set[str] = set()

    def blob(name: str) -> torch.Tensor:
        value = blobs.get(name)
        if value is None:
            raise CheckpointError(f"{source} has no blob {name!r}: not a Detectron ResNet-{depth}",
                                  hint="check DEPTH (50, 101 or 152) and that SRC is a Detectron ResNet pickle")
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{source}: blob {name!r} is a {type(value).__name__}, not an array")
        used.add(name)
        return torch.from_numpy(np.ascontiguousarray(value))

    def conv(caffe: str, torch_name: str) -> None:
        state[f"{torch_name}.weight"] = blob(f"{caffe}_w")
        if f"{caffe}_b" in blobs:
            state[f"{torch_name}.bias"] = blob(f"{caffe}_b")

    def affine_bn(caffe: str, torch_name: str) -> None:
        state[f"{torch_name}.bias"] = blob(f"{caffe}_b")
        state[f"{torch_name}.weight"] = scale = blob(f"{caffe}_s")
        state[f"{torch_name}.running_mean"] = torch.zeros(scale.shape)
        state[f"{torch_name}.running_var"] = torch.ones(scale.shape)

    conv("conv1", "conv1")
    affine_bn("res_conv1_bn", "bn1")
    for stage, num_blocks in enumerate(STAGE_BLOCKS[depth], start=1):
        for block in range(num_blocks):
            caffe, ours = f"res{stage + 1}_{block}", f"layer{stage}.{block}"
            if block == 0:
                conv(f"{caffe}_branch1", f"{ours}.downsample.0")
                affine_bn(f"{caffe}_branch1_bn", f"{ours}.downsample.1")
            for k, letter in enumerate("abc", start=1):
                conv(f"{caffe}_branch2{letter}", f"{ours}.conv{k}")
                affine_bn(f"{caffe}_branch2{letter}_bn", f"{ours}.bn{k}")
    return state, [name for name in blobs if name not in used]


def convert_detectron(src: str | os.PathLike, dst: str | os.PathLike, depth: int) -> dict[str, Any]:
    """Read Detectron's ResNet pickle ``src``, write ``{'state_dict': ...}`` to ``dst``."""
    from detcli.engine.checkpoint import atomic_torch_save

    state, left_out = convert_detectron_blobs(load_blobs(src), depth, source=str(src))
    atomic_torch_save(dict(state_dict=state), str(dst))
    return dict(converted=len(state), left_out=left_out, dst=str(dst))
