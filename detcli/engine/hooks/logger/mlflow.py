"""Scalars (and the final model) to MLflow (``dict(type='MlflowLoggerHook', exp_name=...)``).

``log_model=True`` logs the run's last checkpoint file (the ``.pth`` that ``det test`` and
``init_detector`` load) as the artifact ``models/<name>.pth``, as later OpenMMLab releases log
work-dir files. Serialising the live model with ``mlflow.pytorch.log_model`` instead fails on
current MLflow (it wants an input example to trace) and would need the project's classes to load.
"""

from __future__ import annotations

import os
from typing import Any

from detcli.engine.hooks.logger.base import LoggerHook
from detcli.engine.hooks.logger.optional import require
from detcli.registry import HOOKS


@HOOKS.register_module()
class MlflowLoggerHook(LoggerHook):
    def __init__(self, exp_name: str | None = None, tags: dict | None = None, params: dict | None = None,
                 log_model: bool = True, interval: int = 10, ignore_last: bool = True, reset_flag: bool = False,
                 by_epoch: bool = True) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.mlflow = require("mlflow", "mlflow", "MlflowLoggerHook")
        self.exp_name, self.tags, self.params, self.log_model = exp_name, tags, params, log_model

    def before_run(self, runner: Any) -> None:
        super().before_run(runner)
        if runner.rank != 0:
            return
        if self.exp_name is not None:
            self.mlflow.set_experiment(self.exp_name)
        if self.tags is not None:
            self.mlflow.set_tags(self.tags)
        if self.params is not None:
            self.mlflow.log_params(self.params)

    def log(self, runner: Any) -> None:
        if runner.rank == 0:
            tags = self.get_loggable_tags(runner)
            if tags:
                self.mlflow.log_metrics(tags, step=self.get_iter(runner))

    def after_run(self, runner: Any) -> None:
        if runner.rank != 0 or not self.log_model:
            return
        checkpoint = last_checkpoint(runner)
        if checkpoint is None:
            runner.logger.warning("MlflowLoggerHook: log_model=True but the run saved no checkpoint to log "
                                  "(is checkpoint_config off?)")
            return
        self.mlflow.log_artifact(checkpoint, artifact_path="models")
        runner.logger.info("MlflowLoggerHook: logged %s as an MLflow artifact (models/)", checkpoint)


def last_checkpoint(runner: Any) -> str | None:
    """The file behind the last checkpoint the run saved (``latest.pth`` resolved), or None."""
    from detcli.engine.checkpoint import find_latest_checkpoint

    folders = [getattr(hook, "out_dir", None) for hook in runner.hooks if type(hook).__name__ == "CheckpointHook"]
    for folder in [*folders, runner.work_dir]:
        found = find_latest_checkpoint(folder) if folder else None
        if found:
            return os.path.realpath(found)
    return None
