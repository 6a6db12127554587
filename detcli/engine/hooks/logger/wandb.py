"""Scalars to Weights & Biases (``dict(type='WandbLoggerHook', init_kwargs=dict(project=...))``)."""

from __future__ import annotations

import os
from typing import Any

from detcli.engine.hooks.logger.base import LoggerHook
from detcli.engine.hooks.logger.optional import require
from detcli.registry import HOOKS


@HOOKS.register_module()
class WandbLoggerHook(LoggerHook):
    def __init__(self, init_kwargs: dict | None = None, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, commit: bool = True, by_epoch: bool = True, with_step: bool = True,
                 log_artifact: bool = True, out_suffix: str | tuple = (".log.json", ".log", ".py")) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.wandb = require("wandb", "wandb", "WandbLoggerHook")
        self.init_kwargs = init_kwargs or {}
        self.commit, self.with_step, self.log_artifact = commit, with_step, log_artifact
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)

    def before_run(self, runner: Any) -> None:
        super().before_run(runner)
        if runner.rank == 0:
            self.wandb.init(**self.init_kwargs)

    def log(self, runner: Any) -> None:
        if runner.rank != 0:
            return
        tags = self.get_loggable_tags(runner)
        if not tags:
            return
        if self.with_step:
            self.wandb.log(tags, step=self.get_iter(runner), commit=self.commit)
        else:
            tags["global_step"] = self.get_iter(runner)
            self.wandb.log(tags, commit=self.commit)

    def after_run(self, runner: Any) -> None:
        if runner.rank != 0:
            return
        if self.log_artifact and runner.work_dir:
            artifact = self.wandb.Artifact(name="artifacts", type="model")
            for name in os.listdir(runner.work_dir):
                if name.endswith(self.out_suffix):
                    artifact.add_file(os.path.join(runner.work_dir, name))
            self.wandb.log_artifact(artifact)
        self.wandb.finish()
