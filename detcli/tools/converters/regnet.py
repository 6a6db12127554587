"""``det convert regnet SRC DST``: pycls RegNet weights to this project's RegNet key names.

pycls (the RegNet authors' code) names its modules ``stem.conv``/``stem.bn``,
``s<stage>.b<block>.f.{a,b,c}`` with ``{a,b,c}_bn`` for the three convolutions of a block,
``s<stage>.b1.proj``/``s<stage>.b1.bn`` for the shortcut projection and ``head.fc`` for the
classifier. The result uses ResNet-style names (``conv1``, ``bn1``,
``layer<stage>.<block-1>.conv1``, ``.downsample.0``/``.1``, ``fc``), as mmdetection 2.x's
``regnet2mmdet.py`` writes them, and loads into ``RegNet`` as ``init_cfg`` checkpoint.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import Any

from detcli.errors import CheckpointError

_BLOCK_KEY = re.compile(r"^s(\d+)\.b(\d+)\.(proj|bn|f\.(?:a|b|c)(?:_bn)?)\.([^.]+)$")
_BRANCH = {"f.a": "conv1", "f.b": "conv2", "f.c": "conv3", "f.a_bn": "bn1", "f.b_bn": "bn2", "f.c_bn": "bn3"}


def regnet_key(key: str) -> str | None:
    """The converted name of one pycls key; ``None`` for keys that have no counterpart."""
    if "stem" in key:
        return key.replace("stem.conv", "conv1").replace("stem.bn", "bn1")
    if "head" in key:
        return key.replace("head.fc", "fc")
    if not key.startswith("s"):
        return None
    match = _BLOCK_KEY.match(key)
    if match is None:
        raise CheckpointError(f"cannot convert pycls key {key!r}: not s<stage>.b<block>.{{f.a..f.c_bn, proj, bn}}",
                              hint="only RegNetX weights (no squeeze-excitation 'se' modules) convert to RegNet")
    stage, block, module, param = match.groups()
    prefix = f"layer{int(stage)}.{int(block) - 1}"
    if module in ("proj", "bn"):
        if int(block) != 1:
            raise CheckpointError(f"cannot convert pycls key {key!r}: only a stage's first block has a shortcut")
        return f"{prefix}.downsample.{0 if module == 'proj' else 1}.{param}"
    return f"{prefix}.{_BRANCH[module]}.{param}"


def convert_regnet_state(blobs: dict[str, Any]) -> tuple[OrderedDict, list[str]]:
    """``(converted state_dict, keys left out)`` for a pycls ``model_state`` dict."""
    state: OrderedDict = OrderedDict()
    left_out = []
    for key, value in blobs.items():
        new_key = regnet_key(key)
        if new_key is None:
            left_out.append(key)
        else:
            state[new_key] = value
    return state, left_out


def convert_regnet(src: str | os.PathLike, dst: str | os.PathLike) -> dict[str, Any]:
    """Read a pycls checkpoint (``{'model_state': ...}`` or a bare state dict), write ``{'state_dict': ...}``."""
    from detcli.engine.checkpoint import atomic_torch_save, load_checkpoint_file

    checkpoint = load_checkpoint_file(str(src))
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{src} holds a {type(checkpoint).__name__}, not a pycls checkpoint dict")
    blobs = checkpoint.get("model_state", checkpoint)
    if not isinstance(blobs, dict) or not any(isinstance(k, str) and k.startswith("stem.") for k in blobs):
        raise CheckpointError(f"{src} is not a pycls RegNet checkpoint: no 'model_state' with stem.* keys",
                              hint="SRC is a pycls weights file such as RegNetX-3.2GF_dds_8gpu.pyth")
    state, left_out = convert_regnet_state(blobs)
    atomic_torch_save(dict(state_dict=state), str(dst))
    return dict(converted=len(state), left_out=left_out, dst=str(dst))
