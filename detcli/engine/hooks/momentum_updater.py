"""Momentum schedules (``momentum_config``): SGD's ``momentum`` or Adam's ``beta1``.

``momentum_config=dict(policy='cyclic', target_ratio=(0.85 / 0.95, 1), ...)`` builds
``CyclicMomentumUpdaterHook``. Warmup divides the scheduled momentum by the LR warmup
factor (momentum rises while the LR is warming up).
"""

from __future__ import annotations

from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.engine.hooks.lr_updater import (
    anneal_func,
    annealing_cos,
    annealing_linear,
    cyclic_value,
    optimizers_of,
    per_group,
    two_ratios,
)
from detcli.errors import ConfigError
from detcli.registry import HOOKS


def _momentum_of(group: dict) -> float:
    return group["momentum"] if "momentum" in group else group["betas"][0]


def _set_momentum_of(group: dict, value: float) -> None:
    if "momentum" in group:
        group["momentum"] = value
    elif "betas" in group:
        group["betas"] = (value, group["betas"][1])


class MomentumUpdaterHook(Hook):
    def __init__(self, by_epoch: bool = True, warmup: str | None = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.9) -> None:
        if warmup is not None:
            if warmup not in ("constant", "linear", "exp"):
                raise ConfigError(f"momentum_config.warmup={warmup!r} is not supported",
                                  hint="use 'constant', 'linear', 'exp' or None")
            if not warmup_iters > 0:
                raise ConfigError(f"momentum_config.warmup_iters must be positive, got {warmup_iters}")
            if not 0 < warmup_ratio <= 1.0:
                raise ConfigError(f"momentum_config.warmup_ratio must be in (0, 1], got {warmup_ratio}")
        self.by_epoch, self.warmup, self.warmup_iters, self.warmup_ratio = by_epoch, warmup, warmup_iters, warmup_ratio
        self.base_momentum: Any = []
        self.regular_momentum: Any = []

    def get_momentum(self, runner: Any, base_momentum: Any) -> float:
        raise NotImplementedError

    def _set_momentum(self, runner: Any, groups: Any) -> None:
        for key, opt in optimizers_of(runner).items():
            values = groups if key is None else groups[key]
            for group, mom in zip(opt.param_groups, values):
                _set_momentum_of(group, mom)

    def _map(self, values: Any, fn: Any) -> Any:
        return {k: fn(v) for k, v in values.items()} if isinstance(values, dict) else fn(values)

    def get_regular_momentum(self, runner: Any) -> Any:
        return self._map(self.base_momentum, lambda ms: [self.get_momentum(runner, m) for m in ms])

    def get_warmup_momentum(self, cur_iters: int) -> Any:
        def warm(ms: list) -> list:
            if self.warmup == "constant":
                return [m / self.warmup_ratio for m in ms]
            if self.warmup == "linear":
                k = (1 - cur_iters / self.warmup_iters) * (1 - self.warmup_ratio)
                return [m / (1 - k) for m in ms]
            k = self.warmup_ratio ** (1 - cur_iters / self.warmup_iters)
            return [m / k for m in ms]

        return self._map(self.regular_momentum, warm)

    def before_run(self, runner: Any) -> None:
        bases = {}
        for key, opt in optimizers_of(runner).items():
            for group in opt.param_groups:
                group.setdefault("initial_momentum", _momentum_of(group))
            bases[key] = [group["initial_momentum"] for group in opt.param_groups]
        self.base_momentum = bases[None] if None in bases else bases

    def before_train_epoch(self, runner: Any) -> None:
        if not self.by_epoch:
            return
        self.regular_momentum = self.get_regular_momentum(runner)
        self._set_momentum(runner, self.regular_momentum)

    def before_train_iter(self, runner: Any) -> None:
        cur_iter = runner.iter
        if not self.by_epoch:
            self.regular_momentum = self.get_regular_momentum(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._set_momentum(runner, self.regular_momentum)
            else:
                self._set_momentum(runner, self.get_warmup_momentum(cur_iter))
        elif self.warmup is not None and cur_iter <= self.warmup_iters:
            if cur_iter == self.warmup_iters:
                self._set_momentum(runner, self.regular_momentum)
            else:
                self._set_momentum(runner, self.get_warmup_momentum(cur_iter))


def _progress(hook: MomentumUpdaterHook, runner: Any) -> float:
    if hook.by_epoch:
        return runner.epoch / runner.max_epochs
    return runner.iter / runner.max_iters


def _check_min(value: float | None, ratio: float | None, who: str) -> None:
    if (value is None) == (ratio is None):
        raise ConfigError(f"{who}: set exactly one of min_momentum and min_momentum_ratio")


@HOOKS.register_module()
class StepMomentumUpdaterHook(MomentumUpdaterHook):
    def __init__(self, step: int | list[int], gamma: float = 0.5, min_momentum: float | None = None,
                 **kwargs: Any) -> None:
        if isinstance(step, (list, tuple)):
            if not all(isinstance(s, int) and s > 0 for s in step):
                raise ConfigError(f"momentum_config.step must hold positive ints, got {step}")
            step = list(step)
        elif not isinstance(step, int) or step <= 0:
            raise ConfigError(f"momentum_config.step must be a positive int or a list, got {step!r}")
        self.step, self.gamma, self.min_momentum = step, gamma, min_momentum
        super().__init__(**kwargs)

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        progress = runner.epoch if self.by_epoch else runner.iter
        if isinstance(self.step, int):
            exp = progress // self.step
        else:
            exp = next((i for i, s in enumerate(self.step) if progress < s), len(self.step))
        momentum = base_momentum * self.gamma**exp
        return max(momentum, self.min_momentum) if self.min_momentum is not None else momentum


@HOOKS.register_module()
class CosineAnnealingMomentumUpdaterHook(MomentumUpdaterHook):
    def __init__(self, min_momentum: float | None = None, min_momentum_ratio: float | None = None,
                 **kwargs: Any) -> None:
        _check_min(min_momentum, min_momentum_ratio, "CosineAnnealing momentum")
        self.min_momentum, self.min_momentum_ratio = min_momentum, min_momentum_ratio
        super().__init__(**kwargs)

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        target = base_momentum * self.min_momentum_ratio if self.min_momentum_ratio is not None else self.min_momentum
        return annealing_cos(base_momentum, target, _progress(self, runner))


@HOOKS.register_module()
class LinearAnnealingMomentumUpdaterHook(MomentumUpdaterHook):
    def __init__(self, min_momentum: float | None = None, min_momentum_ratio: float | None = None,
                 **kwargs: Any) -> None:
        _check_min(min_momentum, min_momentum_ratio, "LinearAnnealing momentum")
        self.min_momentum, self.min_momentum_ratio = min_momentum, min_momentum_ratio
        super().__init__(**kwargs)

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        target = base_momentum * self.min_momentum_ratio if self.min_momentum_ratio is not None else self.min_momentum
        return annealing_linear(base_momentum, target, _progress(self, runner))


@HOOKS.register_module()
class CyclicMomentumUpdaterHook(MomentumUpdaterHook):
    """Momentum cycled against the cyclic LR: down to ``target_ratio[0]`` while the LR rises."""

    def __init__(self, by_epoch: bool = False, target_ratio: Any = (0.85 / 0.95, 1.0), cyclic_times: int = 1,
                 step_ratio_up: float = 0.4, anneal_strategy: str = "cos", gamma: float = 1.0,
                 **kwargs: Any) -> None:
        if by_epoch:
            raise ConfigError("the cyclic momentum policy works by iteration only", hint="set by_epoch=False")
        if not 0 <= step_ratio_up < 1.0:
            raise ConfigError(f"step_ratio_up must be in [0, 1), got {step_ratio_up}")
        self.target_ratio = two_ratios(target_ratio)
        self.cyclic_times, self.step_ratio_up, self.gamma = cyclic_times, step_ratio_up, gamma
        self.anneal_func = anneal_func(anneal_strategy)
        self.max_iter_per_phase = 0
        self.momentum_phases: list[list[float]] = []
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner: Any) -> None:
        super().before_run(runner)
        self.max_iter_per_phase = runner.max_iters // self.cyclic_times
        up = int(self.step_ratio_up * self.max_iter_per_phase)
        self.momentum_phases = [[0, up, 1, self.target_ratio[0]],
                                [up, self.max_iter_per_phase, self.target_ratio[0], self.target_ratio[1]]]

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        return cyclic_value(runner.iter, self.momentum_phases, self.max_iter_per_phase, self.gamma,
                            base_momentum, self.anneal_func)


@HOOKS.register_module()
class OneCycleMomentumUpdaterHook(MomentumUpdaterHook):
    """Momentum of the 1cycle policy: from ``max_momentum`` down to ``base_momentum`` and back."""

    def __init__(self, base_momentum: Any = 0.85, max_momentum: Any = 0.95, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", three_phase: bool = False, **kwargs: Any) -> None:
        if kwargs.setdefault("by_epoch", False):
            raise ConfigError("the OneCycle momentum policy works by iteration only", hint="set by_epoch=False")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ConfigError(f"pct_start must be a float in [0, 1], got {pct_start!r}")
        self._base_momentum, self._max_momentum = base_momentum, max_momentum
        self.pct_start, self.three_phase = pct_start, three_phase
        self.anneal_func = anneal_func(anneal_strategy)
        self.momentum_phases: list[dict] = []
        super().__init__(**kwargs)

    def before_run(self, runner: Any) -> None:
        for key, opt in optimizers_of(runner).items():
            if "momentum" not in opt.defaults and "betas" not in opt.defaults:
                raise ConfigError(f"{type(opt).__name__} has no momentum for the OneCycle momentum policy")
            name = key if key is not None else type(opt).__name__
            lows = per_group(name, opt, self._base_momentum)
            highs = per_group(name, opt, self._max_momentum)
            for group, low, high in zip(opt.param_groups, lows, highs):
                _set_momentum_of(group, high)
                group["base_momentum"], group["max_momentum"] = low, high
        total = runner.max_iters
        first = float(self.pct_start * total) - 1
        if self.three_phase:
            self.momentum_phases = [
                dict(end_iter=first, start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_iter=float(2 * self.pct_start * total) - 2, start_momentum="base_momentum",
                     end_momentum="max_momentum"),
                dict(end_iter=total - 1, start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self.momentum_phases = [
                dict(end_iter=first, start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_iter=total - 1, start_momentum="base_momentum", end_momentum="max_momentum"),
            ]

    def get_momentum(self, runner: Any, param_group: dict) -> float:
        start_iter = 0.0
        for i, phase in enumerate(self.momentum_phases):
            end_iter = phase["end_iter"]
            if runner.iter <= end_iter or i == len(self.momentum_phases) - 1:
                pct = (runner.iter - start_iter) / (end_iter - start_iter)
                return self.anneal_func(param_group[phase["start_momentum"]], param_group[phase["end_momentum"]], pct)
            start_iter = end_iter
        return 0.0

    def get_regular_momentum(self, runner: Any) -> Any:
        values = {k: [self.get_momentum(runner, g) for g in opt.param_groups] for k, opt in optimizers_of(runner).items()}
        return values[None] if None in values else values
