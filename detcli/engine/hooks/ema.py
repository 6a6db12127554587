"""Exponential moving average of the weights.

``ema = (1 - m) * ema + m * weight`` after every ``interval`` iterations. The averages
live in model buffers named ``ema_<param name with _>``, so checkpoints carry them.
At the end of each training epoch the model swaps its weights with the averages
(evaluation and the epoch checkpoint see the EMA weights) and swaps back when the
next epoch starts. Give the hook a priority below 50 (e.g. 49) so it runs before the
checkpoint and evaluation hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from detcli.engine.hooks.hook import Hook
from detcli.errors import ConfigError
from detcli.registry import HOOKS


class BaseEMAHook(Hook):
    def __init__(self, momentum: float = 0.0002, interval: int = 1, skip_buffers: bool = False,
                 resume_from: str | None = None, momentum_fun: Callable[[int], float] | None = None) -> None:
        if not 0 < momentum < 1:
            raise ConfigError(f"EMA momentum must be in (0, 1), got {momentum}")
        if not isinstance(interval, int) or interval <= 0:
            raise ConfigError(f"EMA interval must be a positive int, got {interval!r}")
        self.momentum = momentum
        self.interval = interval
        self.skip_buffers = skip_buffers
        self.checkpoint = resume_from
        self.momentum_fun = momentum_fun

    def before_run(self, runner: Any) -> None:
        model = getattr(runner.model, "module", runner.model)
        tracked = dict(model.named_parameters()) if self.skip_buffers else model.state_dict(keep_vars=True)
        self.model_parameters: dict[str, torch.Tensor] = {}
        self.param_ema_buffer: dict[str, str] = {}
        for name, value in tracked.items():
            if name.startswith("ema_"):
                continue  # averages of averages make no sense
            buffer_name = "ema_" + name.replace(".", "_")
            self.model_parameters[name] = value
            self.param_ema_buffer[name] = buffer_name
            if not hasattr(model, buffer_name):
                model.register_buffer(buffer_name, value.data.clone())
        self.model_buffers = dict(model.named_buffers())
        if self.checkpoint is not None:
            runner.resume(self.checkpoint)
        resumed = runner.resumed_state_dict or {}
        for buffer_name in self.param_ema_buffer.values():
            if buffer_name in resumed:
                self.model_buffers[buffer_name].copy_(resumed[buffer_name])

    def get_momentum(self, runner: Any) -> float:
        return self.momentum_fun(runner.iter) if self.momentum_fun else self.momentum

    def _due(self, runner: Any) -> bool:
        return (runner.iter + 1) % self.interval == 0

    @torch.no_grad()
    def after_train_iter(self, runner: Any) -> None:
        if not self._due(runner):
            return
        m = self.get_momentum(runner)
        for name, value in self.model_parameters.items():
            if value.dtype.is_floating_point:
                self.model_buffers[self.param_ema_buffer[name]].mul_(1 - m).add_(value.data, alpha=m)

    def after_train_epoch(self, runner: Any) -> None:
        self._swap()

    def before_train_epoch(self, runner: Any) -> None:
        if not getattr(runner, "resuming_mid_epoch", False):  # mid-epoch checkpoints hold unswapped weights
            self._swap()

    @torch.no_grad()
    def _swap(self) -> None:
        for name, value in self.model_parameters.items():
            ema = self.model_buffers[self.param_ema_buffer[name]]
            tmp = value.data.clone()
            value.data.copy_(ema.data)
            ema.data.copy_(tmp)


@HOOKS.register_module()
class EMAHook(BaseEMAHook):
    """mmcv's EMA: parameters only; momentum ``min(m ** interval, (1 + t) / (warm_up + t))``."""

    def __init__(self, momentum: float = 0.0002, interval: int = 1, warm_up: int = 100,
                 resume_from: str | None = None) -> None:
        super().__init__(momentum=momentum, interval=interval, skip_buffers=True, resume_from=resume_from)
        self.momentum = momentum**interval
        self.warm_up = warm_up

    def get_momentum(self, runner: Any) -> float:
        return min(self.momentum, (1 + runner.iter) / (self.warm_up + runner.iter))

    def _due(self, runner: Any) -> bool:
        return runner.iter % self.interval == 0


@HOOKS.register_module()
class ExpMomentumEMAHook(BaseEMAHook):
    """Momentum ``(1 - m) * exp(-(1 + t) / total_iter) + m``: large early, ``m`` later."""

    def __init__(self, total_iter: int = 2000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.total_iter = total_iter
        self.momentum_fun = lambda t: (1 - self.momentum) * math.exp(-(1 + t) / total_iter) + self.momentum


@HOOKS.register_module()
class LinearMomentumEMAHook(BaseEMAHook):
    """Momentum ``min(m ** interval, (1 + t) / (warm_up + t))``."""

    def __init__(self, warm_up: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warm_up = warm_up
        self.momentum_fun = lambda t: min(self.momentum**self.interval, (1 + t) / (warm_up + t))
