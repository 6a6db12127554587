"""Backward pass and optimizer step (``optimizer_config``), optionally accumulated or mixed-precision.

``optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2))`` clips the global
gradient norm (logged as ``grad_norm``). ``GradientCumulativeOptimizerHook(cumulative_iters=4)``
steps every 4 iterations with the loss divided by 4, as one batch 4x larger would.
``fp16 = dict(loss_scale=512.)`` or ``'dynamic'`` trains under ``torch.autocast``: float16
with a GradScaler on CUDA, bfloat16 (no scaling needed) on CPU.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_

from detcli.engine.hooks.hook import Hook
from detcli.errors import ConfigError
from detcli.registry import HOOKS

logger = logging.getLogger("detcli")


@HOOKS.register_module()
class OptimizerHook(Hook):
    def __init__(self, grad_clip: dict | None = None, detect_anomalous_params: bool = False) -> None:
        self.grad_clip = dict(grad_clip) if grad_clip else None
        self.detect_anomalous_params = detect_anomalous_params

    def clip_grads(self, params: Any, runner: Any) -> None:
        params = [p for p in params if p.requires_grad and p.grad is not None]
        if params and self.grad_clip is not None:
            norm = clip_grad_norm_(params, **self.grad_clip)
            runner.log_buffer.update({"grad_norm": float(norm)}, runner.outputs.get("num_samples", 1))

    def after_train_iter(self, runner: Any) -> None:
        runner.optimizer.zero_grad()
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(runner.outputs["loss"], runner)
        runner.outputs["loss"].backward()
        self.clip_grads(runner.model.parameters(), runner)
        runner.optimizer.step()

    def detect_anomalous_parameters(self, loss: torch.Tensor, runner: Any) -> None:
        """Log trainable parameters that the loss does not depend on (they break DDP)."""
        seen, in_graph, stack = set(), set(), [loss.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            if hasattr(fn, "variable"):
                in_graph.add(fn.variable)
            stack.extend(parent for parent, _ in fn.next_functions)
        for name, p in runner.model.named_parameters():
            if p.requires_grad and p not in in_graph:
                runner.logger.error("%s with shape %s is not in the computational graph", name, tuple(p.shape))


def _has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@HOOKS.register_module()
class GradientCumulativeOptimizerHook(OptimizerHook):
    def __init__(self, cumulative_iters: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(cumulative_iters, int) or cumulative_iters <= 0:
            raise ConfigError(f"cumulative_iters must be a positive int, got {cumulative_iters!r}")
        self.cumulative_iters = cumulative_iters
        self.divisible_iters = 0
        self.remainder_iters = 0
        self.initialized = False

    def _init(self, runner: Any) -> None:
        if runner.iter % self.cumulative_iters != 0:
            runner.logger.warning(
                "resumed at iteration %d, not a multiple of cumulative_iters=%d: the first step "
                "accumulates fewer gradients", runner.iter, self.cumulative_iters)
        if self.cumulative_iters > 1 and _has_batch_norm(runner.model):
            runner.logger.warning("gradient accumulation with BatchNorm layers: BN still sees the small batches")
        self.divisible_iters = runner.max_iters // self.cumulative_iters * self.cumulative_iters
        self.remainder_iters = runner.max_iters - self.divisible_iters
        self.initialized = True

    def _loss_factor(self, runner: Any) -> int:
        if runner.iter < runner.max_iters - self.remainder_iters:
            return self.cumulative_iters
        return self.remainder_iters

    def _should_step(self, runner: Any) -> bool:
        return self.every_n_iters(runner, self.cumulative_iters) or self.is_last_iter(runner)

    def after_train_iter(self, runner: Any) -> None:
        if not self.initialized:
            self._init(runner)
        (runner.outputs["loss"] / self._loss_factor(runner)).backward()
        if self._should_step(runner):
            self.clip_grads(runner.model.parameters(), runner)
            runner.optimizer.step()
            runner.optimizer.zero_grad()


def _check_loss_scale(loss_scale: Any) -> None:
    ok = loss_scale == "dynamic" or isinstance(loss_scale, dict) or (
        isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool) and loss_scale > 0)
    if not ok:
        raise ConfigError(f"fp16.loss_scale must be a positive float, a dict or 'dynamic', got {loss_scale!r}")


def _make_scaler(loss_scale: Any) -> tuple[torch.amp.GradScaler, float | None]:
    if loss_scale == "dynamic":
        return torch.amp.GradScaler("cuda"), None
    if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
        return torch.amp.GradScaler("cuda", init_scale=float(loss_scale)), float(loss_scale)
    if isinstance(loss_scale, dict):
        return torch.amp.GradScaler("cuda", **loss_scale), None
    raise ConfigError(f"fp16.loss_scale must be a float, a dict or 'dynamic', got {loss_scale!r}")


class _MixedPrecision:
    """The part the two fp16 hooks share: autocast set-up and the loss scaler (CUDA only)."""

    loss_scale: Any
    scaler: torch.amp.GradScaler | None
    _static_scale: float | None

    def _setup_amp(self, runner: Any) -> None:
        device = runner.device.type if runner.device is not None else "cpu"
        if device == "cuda":
            runner.autocast_dtype = torch.float16
            self.scaler, self._static_scale = _make_scaler(self.loss_scale)
            state = (runner.meta or {}).get("fp16", {}).get("loss_scaler")
            if state:
                self.scaler.load_state_dict(state)
        else:
            runner.autocast_dtype = torch.bfloat16
            self.scaler, self._static_scale = None, None
            runner.logger.info("mixed precision on %s: bfloat16 autocast (no loss scaling needed)", device)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _step(self, runner: Any, clip: Any) -> None:
        if self.scaler is None:
            clip(runner.model.parameters(), runner)
            runner.optimizer.step()
            return
        self.scaler.unscale_(runner.optimizer)
        clip(runner.model.parameters(), runner)
        self.scaler.step(runner.optimizer)
        self.scaler.update(self._static_scale)
        runner.meta.setdefault("fp16", {})["loss_scaler"] = self.scaler.state_dict()


@HOOKS.register_module()
class Fp16OptimizerHook(_MixedPrecision, OptimizerHook):
    def __init__(self, grad_clip: dict | None = None, coalesce: bool = True, bucket_size_mb: int = -1,
                 loss_scale: Any = 512.0, distributed: bool = True) -> None:
        super().__init__(grad_clip=grad_clip)
        self.coalesce, self.bucket_size_mb, self.distributed = coalesce, bucket_size_mb, distributed
        self.loss_scale = loss_scale
        _check_loss_scale(loss_scale)
        self.scaler = None
        self._static_scale = None

    def before_run(self, runner: Any) -> None:
        self._setup_amp(runner)

    def after_train_iter(self, runner: Any) -> None:
        runner.optimizer.zero_grad()
        self._backward(runner.outputs["loss"])
        self._step(runner, self.clip_grads)


@HOOKS.register_module()
class GradientCumulativeFp16OptimizerHook(_MixedPrecision, GradientCumulativeOptimizerHook):
    def __init__(self, cumulative_iters: int = 1, grad_clip: dict | None = None, loss_scale: Any = 512.0,
                 coalesce: bool = True, bucket_size_mb: int = -1, distributed: bool = True) -> None:
        super().__init__(cumulative_iters=cumulative_iters, grad_clip=grad_clip)
        self.coalesce, self.bucket_size_mb, self.distributed = coalesce, bucket_size_mb, distributed
        _check_loss_scale(loss_scale)
        self.loss_scale = loss_scale
        self.scaler = None
        self._static_scale = None

    def before_run(self, runner: Any) -> None:
        self._setup_amp(runner)

    def after_train_iter(self, runner: Any) -> None:
        if not self.initialized:
            self._init(runner)
        self._backward(runner.outputs["loss"] / self._loss_factor(runner))
        if self._should_step(runner):
            self._step(runner, self.clip_grads)
            runner.optimizer.zero_grad()
