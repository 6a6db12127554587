"""Where a detector keeps its feature maps in memory: NCHW (PyTorch's default) or channels-last.

oneDNN's CPU convolutions run 10-40 % faster on channels-last tensors (measured on the
shapes and R50-FPN models: training and inference, batch 1 and 8), so on the CPU detcli
trains and infers channels-last unless the config says otherwise. Converting the weights
is enough: a convolution whose weight is channels-last returns channels-last activations,
and everything that reshapes them (RoI heads' ``flatten``) keeps the logical NCHW order,
so checkpoints and results do not depend on the choice. On CUDA the default stays NCHW
(channels-last pays off there only with mixed precision on tensor cores): set
``channels_last = True`` in the config to opt in.

Config key (top level, not an mmdetection 2.x key; absent means ``None``)::

    channels_last = None   # None: on for the CPU, off for CUDA; True/False: always/never
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from detcli.errors import ConfigError


def wants_channels_last(cfg: Any, device: torch.device | str) -> bool:
    """Whether a model that runs on ``device`` under ``cfg`` should be channels-last."""
    setting = cfg.get("channels_last") if hasattr(cfg, "get") else None
    if setting is None:
        return torch.device(device).type == "cpu"
    if not isinstance(setting, bool):
        raise ConfigError(f"channels_last must be True, False or None, got {setting!r}",
                          hint="set channels_last = None in the config for the per-device default")
    return setting


def apply_memory_format(model: nn.Module, cfg: Any, device: torch.device | str) -> nn.Module:
    """``model`` with its 4-d weights channels-last when ``wants_channels_last``; in place."""
    if wants_channels_last(cfg, device):
        model.to(memory_format=torch.channels_last)
    return model
