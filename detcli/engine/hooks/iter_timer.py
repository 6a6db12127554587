"""Step timing for the logs: ``data_time`` (waiting for the batch) and ``time`` (the whole step)."""

from __future__ import annotations

import time
from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class IterTimerHook(Hook):
    def before_epoch(self, runner: Any) -> None:
        self.t = time.time()

    def before_run(self, runner: Any) -> None:
        self.t = time.time()  # the iteration runner has no epochs

    def before_iter(self, runner: Any) -> None:
        runner.log_buffer.update({"data_time": time.time() - self.t})

    def after_iter(self, runner: Any) -> None:
        runner.log_buffer.update({"time": time.time() - self.t})
        self.t = time.time()
