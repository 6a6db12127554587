"""Scalars to TensorBoard (``dict(type='TensorboardLoggerHook')`` in ``log_config.hooks``)."""

from __future__ import annotations

import os
from typing import Any

from detcli.engine.hooks.logger.base import LoggerHook
from detcli.engine.hooks.logger.optional import require
from detcli.registry import HOOKS


@HOOKS.register_module()
class TensorboardLoggerHook(LoggerHook):
    def __init__(self, log_dir: str | None = None, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, by_epoch: bool = True) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        require("tensorboard", "tensorboard", "TensorboardLoggerHook")
        self.log_dir = log_dir
        self.writer: Any = None

    def before_run(self, runner: Any) -> None:
        super().before_run(runner)
        if runner.rank != 0:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = self.log_dir or os.path.join(runner.work_dir or ".", "tf_logs")
        self.writer = SummaryWriter(self.log_dir)

    def log(self, runner: Any) -> None:
        if self.writer is None:
            return
        step = self.get_iter(runner)
        for tag, val in self.get_loggable_tags(runner, allow_text=True).items():
            if isinstance(val, str):
                self.writer.add_text(tag, val, step)
            else:
                self.writer.add_scalar(tag, val, step)

    def after_run(self, runner: Any) -> None:
        if self.writer is not None:
            self.writer.close()
