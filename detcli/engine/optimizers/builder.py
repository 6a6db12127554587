"""``optimizer = dict(type='SGD', lr=0.02, ...)`` -> a torch optimizer over the model's param groups.

Every ``torch.optim`` optimizer is registered under its class name; custom ones join
with ``@OPTIMIZERS.register_module()``. ``constructor`` picks the optimizer constructor
(default ``DefaultOptimizerConstructor``), ``paramwise_cfg`` is handed to it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from detcli.registry import OPTIMIZER_BUILDERS, OPTIMIZERS


def register_torch_optimizers() -> list[str]:
    names = []
    for name in dir(torch.optim):
        obj = getattr(torch.optim, name)
        if inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer:
            OPTIMIZERS.register_module(module=obj)
            names.append(name)
    return names


TORCH_OPTIMIZERS = register_torch_optimizers()


def build_optimizer_constructor(cfg: Mapping) -> Any:
    return OPTIMIZER_BUILDERS.build(cfg)


def build_optimizer(model: nn.Module, cfg: Mapping) -> torch.optim.Optimizer:
    optimizer_cfg = copy.deepcopy(dict(cfg))
    constructor_type = optimizer_cfg.pop("constructor", "DefaultOptimizerConstructor")
    paramwise_cfg = optimizer_cfg.pop("paramwise_cfg", None)
    constructor = build_optimizer_constructor(
        dict(type=constructor_type, optimizer_cfg=optimizer_cfg, paramwise_cfg=paramwise_cfg)
    )
    return constructor(model)
