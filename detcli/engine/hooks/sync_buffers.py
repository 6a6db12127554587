"""Average buffers (BN running statistics) over all ranks at the end of each epoch."""

from __future__ import annotations

from typing import Any

from detcli.engine.dist import average_buffers
from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class SyncBuffersHook(Hook):
    def __init__(self, distributed: bool = True) -> None:
        self.distributed = distributed

    def after_epoch(self, runner: Any) -> None:
        if self.distributed:
            average_buffers(runner.model)
