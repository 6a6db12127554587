"""``CheckInvalidLossHook``: kept for configs that name it; the runner already checks every step."""

from __future__ import annotations

from typing import Any

import torch

from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    def __init__(self, interval: int = 50) -> None:
        self.interval = interval

    def after_train_iter(self, runner: Any) -> None:
        if self.every_n_iters(runner, self.interval):
            loss = runner.outputs["loss"]
            if not torch.isfinite(loss).all():
                from detcli.engine.runners.base_runner import NonFiniteLossError

                raise NonFiniteLossError(f"loss became {loss.item()} at iteration {runner.iter + 1}")
