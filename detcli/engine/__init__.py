"""The training engine: runners, hooks, optimizers, schedules, checkpoints, distributed set-up.

Importing this package registers every runner, hook, optimizer and optimizer
constructor. It never imports ``detcli.models`` or ``detcli.data`` at import time.
"""

from detcli.engine.checkpoint import find_latest_checkpoint, load_checkpoint, save_checkpoint
from detcli.engine.dist import get_dist_info, init_dist, master_only
from detcli.engine.hooks import *  # noqa: F403 - the hook classes are this package's API
from detcli.engine.hooks import __all__ as _hooks_all
from detcli.engine.log_buffer import LogBuffer
from detcli.engine.optimizers import DefaultOptimizerConstructor, build_optimizer, build_optimizer_constructor
from detcli.engine.priority import Priority, get_priority
from detcli.engine.runners import (
    BaseRunner,
    EpochBasedRunner,
    IterBasedRunner,
    IterLoader,
    NonFiniteLossError,
    Runner,
    TrainingInterrupted,
    build_runner,
)

__all__ = [
    *_hooks_all, "find_latest_checkpoint", "load_checkpoint", "save_checkpoint", "get_dist_info", "init_dist",
    "master_only", "LogBuffer", "DefaultOptimizerConstructor", "build_optimizer", "build_optimizer_constructor",
    "Priority", "get_priority", "BaseRunner", "EpochBasedRunner", "IterBasedRunner", "IterLoader",
    "NonFiniteLossError", "Runner", "TrainingInterrupted", "build_runner",
]
