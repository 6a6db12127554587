"""Learning-rate schedules (``lr_config``), with mmcv 1.x names, arguments and formulas.

``lr_config=dict(policy='step', step=[8, 11])`` builds ``StepLrUpdaterHook``. A policy
maps ``(progress, base_lr)`` to an LR; ``progress`` is the epoch (``by_epoch=True``) or
the iteration. Warmup (``linear``/``exp``/``constant``) always counts iterations
(or epochs with ``warmup_by_epoch``) and scales the scheduled LR:

- linear:   lr * (1 - (1 - i / warmup_iters) * (1 - warmup_ratio))
- exp:      lr * warmup_ratio ** (1 - i / warmup_iters)
- constant: lr * warmup_ratio
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from math import cos, pi
from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.errors import ConfigError
from detcli.registry import HOOKS


def annealing_cos(start: float, end: float, factor: float, weight: float = 1.0) -> float:
    """Cosine from ``weight * start + (1 - weight) * end`` (factor 0) to ``end`` (factor 1)."""
    return end + 0.5 * weight * (start - end) * (cos(pi * factor) + 1)


def annealing_linear(start: float, end: float, factor: float) -> float:
    return start + (end - start) * factor


def anneal_func(strategy: str) -> Callable[..., float]:
    if strategy == "cos":
        return annealing_cos
    if strategy == "linear":
        return annealing_linear
    raise ConfigError(f"anneal_strategy must be 'cos' or 'linear', got {strategy!r}")


def per_group(name: str, optimizer: Any, value: Any) -> list:
    """``value`` for each param group: a number (shared), a list (one each) or a dict (per optimizer)."""
    if isinstance(value, numbers.Number):
        return [value] * len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ConfigError(f"expected {len(optimizer.param_groups)} values for {name}, got {len(value)}")
        return list(value)
    if name not in value:
        raise ConfigError(f"{name} is not among the keys {sorted(value)}")
    return value[name]


def optimizers_of(runner: Any) -> dict[str | None, Any]:
    """``{None: optimizer}`` for one optimizer, the dict itself for several."""
    opt = runner.optimizer
    return dict(opt) if isinstance(opt, dict) else {None: opt}


class LrUpdaterHook(Hook):
    """Base of every LR policy: sets each param group's LR before each epoch/iteration."""

    def __init__(
        self,
        by_epoch: bool = True,
        warmup: str | None = None,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.1,
        warmup_by_epoch: bool = False,
    ) -> None:
        if warmup is not None:
            if warmup not in ("constant", "linear", "exp"):
                raise ConfigError(
                    f"lr_config.warmup={warmup!r} is not supported", hint="use 'constant', 'linear', 'exp' or None"
                )
            if not warmup_iters > 0:
                raise ConfigError(f"lr_config.warmup_iters must be positive, got {warmup_iters}")
            if not 0 < warmup_ratio <= 1.0:
                raise ConfigError(f"lr_config.warmup_ratio must be in (0, 1], got {warmup_ratio}")
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        self.warmup_epochs: int | None = warmup_iters if warmup_by_epoch else None
        self.warmup_iters: int | None = None if warmup_by_epoch else warmup_iters
        self.base_lr: Any = []  # list per group, or dict of lists for several optimizers
        self.regular_lr: Any = []

    def get_lr(self, runner: Any, base_lr: float) -> float:
        raise NotImplementedError

    # -- plumbing over one or several optimizers ---------------------------------
    def _set_lr(self, runner: Any, lr_groups: Any) -> None:
        for key, opt in optimizers_of(runner).items():
            lrs = lr_groups if key is None else lr_groups[key]
            for group, lr in zip(opt.param_groups, lrs):
                group["lr"] = lr

    def _map(self, values: Any, fn: Callable[[list], list]) -> Any:
        return {k: fn(v) for k, v in values.items()} if isinstance(values, dict) else fn(values)

    def get_regular_lr(self, runner: Any) -> Any:
        return self._map(self.base_lr, lambda lrs: [self.get_lr(runner, lr) for lr in lrs])

    def get_warmup_lr(self, cur_iters: int) -> Any:
        def warm(lrs: list) -> list:
            if self.warmup == "constant":
                return [lr * self.warmup_ratio for lr in lrs]
            if self.warmup == "linear":
                k = (1 - cur_iters / self.warmup_iters) * (1 - self.warmup_ratio)
                return [lr * (1 - k) for lr in lrs]
            k = self.warmup_ratio ** (1 - cur_iters / self.warmup_iters)
            return [lr * k for lr in lrs]

        return self._map(self.regular_lr, warm)

    # -- stages ------------------------------------------------------------------
    def before_run(self, runner: Any) -> None:
        bases = {}
        for key, opt in optimizers_of(runner).items():
            for group in opt.param_groups:
                if "lr" not in group and "initial_lr" not in group:
                    raise ConfigError(
                        f"lr_config needs a learning rate, but the param groups of {type(opt).__name__} have "
                        f"no 'lr' (keys: {', '.join(sorted(k for k in group if k != 'params'))})",
                        hint="keep the optimizer's learning rate under 'lr' in its defaults, or set lr_config = None")
                group.setdefault("initial_lr", group["lr"])
            bases[key] = [group["initial_lr"] for group in opt.param_groups]
        self.base_lr = bases[None] if None in bases else bases

    def before_train_epoch(self, runner: Any) -> None:
        if self.warmup_iters is None:
            self.warmup_iters = self.warmup_epochs * len(runner.data_loader)
        if not self.by_epoch:
            return
        self.regular_lr = self.get_regular_lr(runner)
        self._set_lr(runner, self.regular_lr)

    def before_train_iter(self, runner: Any) -> None:
        cur_iter = runner.iter
        if not self.by_epoch:
            self.regular_lr = self.get_regular_lr(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))
        elif self.warmup is not None and cur_iter <= self.warmup_iters:
            if cur_iter == self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))


def _progress(hook: LrUpdaterHook, runner: Any) -> tuple[int, int]:
    """``(progress, max_progress)`` in epochs or iterations, as the hook counts."""
    if hook.by_epoch:
        return runner.epoch, runner.max_epochs
    return runner.iter, runner.max_iters


def _target(base_lr: float, min_lr: float | None, min_lr_ratio: float | None) -> float:
    return base_lr * min_lr_ratio if min_lr_ratio is not None else min_lr  # type: ignore[return-value]


def _check_min(min_lr: float | None, min_lr_ratio: float | None, who: str) -> None:
    if (min_lr is None) == (min_lr_ratio is None):
        raise ConfigError(f"{who}: set exactly one of min_lr and min_lr_ratio")


@HOOKS.register_module()
class FixedLrUpdaterHook(LrUpdaterHook):
    def get_lr(self, runner: Any, base_lr: float) -> float:
        return base_lr


@HOOKS.register_module()
class StepLrUpdaterHook(LrUpdaterHook):
    """Multiply by ``gamma`` at each of ``step`` (a list), or every ``step`` (an int)."""

    def __init__(self, step: int | list[int], gamma: float = 0.1, min_lr: float | None = None, **kwargs: Any) -> None:
        if isinstance(step, (list, tuple)):
            if not all(isinstance(s, int) and s > 0 for s in step):
                raise ConfigError(f"lr_config.step must hold positive ints, got {step}")
            step = list(step)
        elif isinstance(step, int):
            if step <= 0:
                raise ConfigError(f"lr_config.step must be positive, got {step}")
        else:
            raise ConfigError(f"lr_config.step must be an int or a list of ints, got {step!r}")
        self.step, self.gamma, self.min_lr = step, gamma, min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress = runner.epoch if self.by_epoch else runner.iter
        if isinstance(self.step, int):
            exp = progress // self.step
        else:
            exp = next((i for i, s in enumerate(self.step) if progress < s), len(self.step))
        lr = base_lr * self.gamma**exp
        return max(lr, self.min_lr) if self.min_lr is not None else lr


@HOOKS.register_module()
class ExpLrUpdaterHook(LrUpdaterHook):
    def __init__(self, gamma: float, **kwargs: Any) -> None:
        self.gamma = gamma
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * self.gamma**progress


@HOOKS.register_module()
class PolyLrUpdaterHook(LrUpdaterHook):
    def __init__(self, power: float = 1.0, min_lr: float = 0.0, **kwargs: Any) -> None:
        self.power, self.min_lr = power, min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress, max_progress = _progress(self, runner)
        coeff = (1 - progress / max_progress) ** self.power
        return (base_lr - self.min_lr) * coeff + self.min_lr


@HOOKS.register_module()
class InvLrUpdaterHook(LrUpdaterHook):
    def __init__(self, gamma: float, power: float = 1.0, **kwargs: Any) -> None:
        self.gamma, self.power = gamma, power
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * (1 + self.gamma * progress) ** (-self.power)


@HOOKS.register_module()
class CosineAnnealingLrUpdaterHook(LrUpdaterHook):
    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs: Any) -> None:
        _check_min(min_lr, min_lr_ratio, "CosineAnnealing")
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress, max_progress = _progress(self, runner)
        return annealing_cos(base_lr, _target(base_lr, self.min_lr, self.min_lr_ratio), progress / max_progress)


@HOOKS.register_module()
class LinearAnnealingLrUpdaterHook(LrUpdaterHook):
    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs: Any) -> None:
        _check_min(min_lr, min_lr_ratio, "LinearAnnealing")
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress, max_progress = _progress(self, runner)
        return annealing_linear(base_lr, _target(base_lr, self.min_lr, self.min_lr_ratio), progress / max_progress)


@HOOKS.register_module()
class FlatCosineAnnealingLrUpdaterHook(LrUpdaterHook):
    """Constant LR for the first ``start_percent`` of training, then cosine annealing."""

    def __init__(self, start_percent: float = 0.75, min_lr: float | None = None,
                 min_lr_ratio: float | None = None, **kwargs: Any) -> None:
        _check_min(min_lr, min_lr_ratio, "FlatCosineAnnealing")
        if not isinstance(start_percent, float) or not 0 <= start_percent <= 1:
            raise ConfigError(f"start_percent must be a float in [0, 1], got {start_percent!r}")
        self.start_percent, self.min_lr, self.min_lr_ratio = start_percent, min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress, max_progress = _progress(self, runner)
        start = round(max_progress * self.start_percent)
        if progress - start < 0:
            return base_lr
        target = _target(base_lr, self.min_lr, self.min_lr_ratio)
        return annealing_cos(base_lr, target, (progress - start) / (max_progress - start))


@HOOKS.register_module()
class CosineRestartLrUpdaterHook(LrUpdaterHook):
    """Cosine cycles of lengths ``periods``; cycle i starts from ``restart_weights[i]`` of the range."""

    def __init__(self, periods: list[int], restart_weights: list[float] = (1,), min_lr: float | None = None,  # type: ignore[assignment]
                 min_lr_ratio: float | None = None, **kwargs: Any) -> None:
        _check_min(min_lr, min_lr_ratio, "CosineRestart")
        if len(periods) != len(restart_weights):
            raise ConfigError("CosineRestart: periods and restart_weights need the same length")
        self.periods, self.restart_weights = list(periods), list(restart_weights)
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        self.cumulative_periods = [sum(self.periods[: i + 1]) for i in range(len(self.periods))]
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress = runner.epoch if self.by_epoch else runner.iter
        idx = get_position_from_periods(progress, self.cumulative_periods)
        restart = 0 if idx == 0 else self.cumulative_periods[idx - 1]
        alpha = min((progress - restart) / self.periods[idx], 1)
        target = _target(base_lr, self.min_lr, self.min_lr_ratio)
        return annealing_cos(base_lr, target, alpha, self.restart_weights[idx])


def get_position_from_periods(iteration: int, cumulative_periods: list[int]) -> int:
    """Index of the first cumulative period that ``iteration`` has not reached."""
    for i, period in enumerate(cumulative_periods):
        if iteration < period:
            return i
    raise ConfigError(f"iteration {iteration} is past the last period (cumulative periods {cumulative_periods})")


def two_ratios(target_ratio: Any) -> tuple[float, float]:
    if isinstance(target_ratio, float):
        return target_ratio, target_ratio / 1e5
    if isinstance(target_ratio, (tuple, list)):
        ratios = tuple(target_ratio)
        ratios = (ratios[0], ratios[0] / 1e5) if len(ratios) == 1 else ratios
        if len(ratios) != 2:
            raise ConfigError(f"target_ratio must hold two floats, got {target_ratio!r}")
        return ratios  # type: ignore[return-value]
    raise ConfigError(f"target_ratio must be a float or a tuple, got {type(target_ratio).__name__}")


def cyclic_value(iteration: int, phases: list[list[float]], max_iter_per_phase: int, gamma: float,
                 base: float, anneal: Callable[..., float]) -> float:
    """Cyclic schedule value: anneal from ``start_ratio`` to ``end_ratio`` of ``base`` within each phase."""
    curr_iter = iteration % max_iter_per_phase
    scale = gamma ** (iteration // max_iter_per_phase)
    for start_iter, end_iter, start_ratio, end_ratio in phases:
        if start_iter <= curr_iter < end_iter:
            if start_iter == 0:
                end_ratio = 1 - scale + end_ratio * scale
            else:
                start_ratio = 1 - scale + start_ratio * scale
            return anneal(base * start_ratio, base * end_ratio, (curr_iter - start_iter) / (end_iter - start_iter))
    raise RuntimeError(f"iteration {iteration} falls outside the cyclic phases {phases}")


@HOOKS.register_module()
class CyclicLrUpdaterHook(LrUpdaterHook):
    """Up to ``target_ratio[0] * lr`` over ``step_ratio_up`` of each cycle, then down to ``target_ratio[1] * lr``."""

    def __init__(self, by_epoch: bool = False, target_ratio: Any = (10, 1e-4), cyclic_times: int = 1,
                 step_ratio_up: float = 0.4, anneal_strategy: str = "cos", gamma: float = 1, **kwargs: Any) -> None:
        if by_epoch:
            raise ConfigError("the cyclic LR policy works by iteration only", hint="set by_epoch=False")
        if not 0 <= step_ratio_up < 1.0:
            raise ConfigError(f"step_ratio_up must be in [0, 1), got {step_ratio_up}")
        if not 0 < gamma <= 1:
            raise ConfigError(f"gamma must be in (0, 1], got {gamma}")
        self.target_ratio = two_ratios(target_ratio)
        self.cyclic_times, self.step_ratio_up, self.gamma = cyclic_times, step_ratio_up, gamma
        self.anneal_func = anneal_func(anneal_strategy)
        self.max_iter_per_phase = 0
        self.lr_phases: list[list[float]] = []
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner: Any) -> None:
        super().before_run(runner)
        self.max_iter_per_phase = runner.max_iters // self.cyclic_times
        up = int(self.step_ratio_up * self.max_iter_per_phase)
        self.lr_phases = [[0, up, 1, self.target_ratio[0]],
                          [up, self.max_iter_per_phase, self.target_ratio[0], self.target_ratio[1]]]

    def get_lr(self, runner: Any, base_lr: float) -> float:
        return cyclic_value(runner.iter, self.lr_phases, self.max_iter_per_phase, self.gamma, base_lr,
                            self.anneal_func)


@HOOKS.register_module()
class OneCycleLrUpdaterHook(LrUpdaterHook):
    """1cycle: from ``max_lr / div_factor`` up to ``max_lr`` over ``pct_start``, then down to
    ``max_lr / div_factor / final_div_factor`` (``three_phase`` goes back to the start first)."""

    def __init__(self, max_lr: Any, total_steps: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", div_factor: float = 25, final_div_factor: float = 1e4,
                 three_phase: bool = False, **kwargs: Any) -> None:
        if kwargs.setdefault("by_epoch", False):
            raise ConfigError("the OneCycle LR policy works by iteration only", hint="set by_epoch=False")
        if not isinstance(max_lr, (numbers.Number, list, tuple, dict)):
            raise ConfigError(f"max_lr must be a number, list or dict, got {type(max_lr).__name__}")
        if total_steps is not None and not isinstance(total_steps, int):
            raise ConfigError(f"total_steps must be an int, got {total_steps!r}")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ConfigError(f"pct_start must be a float in [0, 1], got {pct_start!r}")
        self._max_lr, self.total_steps, self.pct_start = max_lr, total_steps, pct_start
        self.anneal_func = anneal_func(anneal_strategy)
        self.div_factor, self.final_div_factor, self.three_phase = div_factor, final_div_factor, three_phase
        self.lr_phases: list[list[float]] = []
        super().__init__(**kwargs)

    def before_run(self, runner: Any) -> None:
        total = self.total_steps if self.total_steps is not None else runner.max_iters
        if total < runner.max_iters:
            raise ConfigError(f"OneCycle total_steps ({total}) is smaller than the runner's max_iters ({runner.max_iters})")
        bases = {}
        for key, opt in optimizers_of(runner).items():
            name = key if key is not None else type(opt).__name__
            bases[key] = [lr / self.div_factor for lr in per_group(name, opt, self._max_lr)]
            for group, lr in zip(opt.param_groups, bases[key]):
                group.setdefault("initial_lr", lr)
        self.base_lr = bases[None] if None in bases else bases
        pct_end = float(self.pct_start * total) - 1
        if self.three_phase:
            self.lr_phases = [[pct_end, 1, self.div_factor],
                              [float(2 * self.pct_start * total) - 2, self.div_factor, 1],
                              [total - 1, 1, 1 / self.final_div_factor]]
        else:
            self.lr_phases = [[pct_end, 1, self.div_factor], [total - 1, self.div_factor, 1 / self.final_div_factor]]

    def get_lr(self, runner: Any, base_lr: float) -> float:
        start_iter = 0.0
        lr = base_lr
        for end_iter, start_ratio, end_ratio in self.lr_phases:
            if runner.iter <= end_iter:
                pct = (runner.iter - start_iter) / (end_iter - start_iter)
                return self.anneal_func(base_lr * start_ratio, base_lr * end_ratio, pct)
            start_iter = end_iter
        return lr
