"""Scalars (and the final model) to MLflow (``dict(type='MlflowLoggerHook', exp_name=...)``)."""

from __future__ import annotations

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
        if runner.rank == 0 and self.log_model:
            self.mlflow.pytorch.log_model(getattr(runner.model, "module", runner.model), "models")
