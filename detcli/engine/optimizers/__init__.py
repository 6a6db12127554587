"""Optimizers by name and the constructor that applies ``paramwise_cfg``."""

from detcli.engine.optimizers.builder import (
    TORCH_OPTIMIZERS,
    build_optimizer,
    build_optimizer_constructor,
    register_torch_optimizers,
)
from detcli.engine.optimizers.default_constructor import DefaultOptimizerConstructor

__all__ = ["TORCH_OPTIMIZERS", "build_optimizer", "build_optimizer_constructor", "register_torch_optimizers",
           "DefaultOptimizerConstructor"]
