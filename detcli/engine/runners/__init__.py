"""Runners: the training loops (by epoch or by iteration)."""

from detcli.engine.runners.base_runner import BaseRunner, NonFiniteLossError, TrainingInterrupted
from detcli.engine.runners.builder import build_runner
from detcli.engine.runners.epoch_based_runner import EpochBasedRunner, Runner
from detcli.engine.runners.iter_based_runner import IterBasedRunner, IterLoader

__all__ = ["BaseRunner", "EpochBasedRunner", "Runner", "IterBasedRunner", "IterLoader", "build_runner",
           "NonFiniteLossError", "TrainingInterrupted"]
