"""Where a detector keeps its feature maps in memory: NCHW (PyTorch's default) or channels-last.

oneDNN's CPU convolutions run 10-40 % faster on channels-last tensors (measured on the
shapes and R50-FPN models: training and inference, batch 1 and 8), so on the CPU detcli
trains channels-last unless the config says otherwise. Converting the weights is enough: a
convolution whose weight is channels-last returns channels-last activations, and everything
that reshapes them (RoI heads' ``flatten``) keeps the logical NCHW order, so checkpoints do
not depend on the choice. Results do in their last bits (other convolution kernels), and a
model that amplifies rounding (random weights, as in reference fixtures) can then change a
detection, so inference stays NCHW, as mmdetection 2.x runs it, unless the config opts in. On
CUDA the default stays NCHW for both (channels-last pays off there only with mixed precision
on tensor cores).

Config key (top level, not an mmdetection 2.x key; absent means ``None``)::

    channels_last = None   # None: CPU training only; True/False: always/never
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from detcli.errors import ConfigError


def wants_channels_last(cfg: Any, device: torch.device | str, training: bool = True) -> bool:
    """Whether a model that runs on ``device`` under ``cfg`` (to train, or for inference) should be channels-last."""
    setting = cfg.get("channels_last") if hasattr(cfg, "get") else None
    if setting is None:
        return training and torch.device(device).type == "cpu"
    if not isinstance(setting, bool):
        raise ConfigError(f"channels_last must be True, False or None, got {setting!r}",
                          hint="set channels_last = None in the config for the default (CPU training only)")
    return setting


def apply_memory_format(model: nn.Module, cfg: Any, device: torch.device | str, training: bool = True) -> nn.Module:
    """``model`` with its 4-d weights channels-last when ``wants_channels_last``; in place."""
    if wants_channels_last(cfg, device, training):
        model.to(memory_format=torch.channels_last)
    return model
