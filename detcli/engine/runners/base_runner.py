"""What both runners share: state, hooks, the training step, checkpoints, resume.

The loop itself is plain (see ``EpochBasedRunner.train``): fetch a batch, call the
hooks, run ``model.train_step``, check the losses. Everything else (backward and
optimizer step, LR schedule, logging, checkpoints, evaluation) is a hook.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from detcli.engine.checkpoint import link_latest, load_checkpoint, save_checkpoint
from detcli.engine.dist import all_reduce_mean, barrier, get_dist_info
from detcli.engine.hooks.hook import Hook
from detcli.engine.log_buffer import LogBuffer
from detcli.engine.priority import get_priority, priority_name
from detcli.engine.seeding import derive_seed, seed_step
from detcli.engine.signals import StopRequest
from detcli.errors import CheckpointError, ConfigError, DetError
from detcli.registry import HOOKS, build_from_cfg


class NonFiniteLossError(DetError):
    """A loss became NaN or infinite; training stops before the bad step changes any weight."""


class TrainingInterrupted(DetError):
    """SIGINT/SIGTERM stopped training after a checkpoint was saved."""


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


class BaseRunner:
    """Training state and hook machinery; subclasses define ``run``, ``train``, ``val``."""

    by_epoch = True  # does ``save_checkpoint`` number files by epoch (else by iteration)
    default_ckpt_tmpl = "epoch_{}.pth"

    def __init__(
        self,
        model: nn.Module,
        batch_processor: Any = None,
        optimizer: torch.optim.Optimizer | dict | None = None,
        work_dir: str | None = None,
        logger: logging.Logger | None = None,
        meta: dict | None = None,
        max_iters: int | None = None,
        max_epochs: int | None = None,
        seed: int | None = None,
        device: str | torch.device | None = None,
        deterministic: bool = False,
    ) -> None:
        if batch_processor is not None:
            raise ConfigError(
                "batch_processor is not supported",
                hint="implement train_step()/val_step() in the model instead",
            )
        if not hasattr(model, "train_step"):
            raise ConfigError(f"{type(_unwrap(model)).__name__} has no train_step(); it cannot be trained")
        if max_epochs is not None and max_iters is not None:
            raise ConfigError("runner: set only one of max_epochs and max_iters")
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict or None, got {type(meta).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.logger = logger or logging.getLogger("detcli")
        self.meta: dict = meta if meta is not None else {}
        self.work_dir = os.path.abspath(work_dir) if work_dir is not None else None
        if self.work_dir is not None:
            os.makedirs(self.work_dir, exist_ok=True)
        self._model_name = type(_unwrap(model)).__name__
        self._rank, self._world_size = get_dist_info()
        self.timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        self.mode: str | None = None
        self._hooks: list[Hook] = []
        self._epoch = 0
        self._iter = 0
        self._inner_iter = 0
        self._max_epochs = max_epochs
        self._max_iters = max_iters
        self.log_buffer = LogBuffer()
        self.seed = seed
        self.deterministic = deterministic  # exact resume: re-load skipped batches instead of skipping indices
        self.device = torch.device(device) if device is not None else None
        self.outputs: dict = {}
        self.data_loader: Any = None
        # mixed precision: set by Fp16OptimizerHook, used around the forward pass
        self.autocast_dtype: torch.dtype | None = None
        # bookkeeping for exact checkpoints and resume
        self._phase = "idle"  # 'iter_done' inside after_train_iter, 'epoch_done' inside after_train_epoch
        self._done_in_epoch = 0
        self._resume_inner = 0
        self._resumed = False
        self._resume_position: tuple[int, int] | None = None
        self.resuming_mid_epoch = False
        self.resumed_state_dict: dict | None = None
        self._stop = StopRequest()
        self._stop_after_iter = False

    # -- read-only state ---------------------------------------------------------
    model_name = property(lambda self: self._model_name)
    rank = property(lambda self: self._rank)
    world_size = property(lambda self: self._world_size)
    hooks = property(lambda self: self._hooks)
    epoch = property(lambda self: self._epoch)
    iter = property(lambda self: self._iter)
    inner_iter = property(lambda self: self._inner_iter)
    max_epochs = property(lambda self: self._max_epochs)
    max_iters = property(lambda self: self._max_iters)

    def run(self, data_loaders: list, workflow: list, **kwargs: Any) -> None:
        raise NotImplementedError

    def _position(self) -> dict[str, int]:
        """Where training stands, as saved in a checkpoint's meta (counts of completed work)."""
        raise NotImplementedError

    # -- learning rate / momentum ------------------------------------------------
    def _groups(self) -> dict[str, torch.optim.Optimizer] | torch.optim.Optimizer:
        if self.optimizer is None:
            raise RuntimeError("the runner has no optimizer")
        return self.optimizer

    def current_lr(self) -> list[float] | dict[str, list[float]]:
        def lrs(o: torch.optim.Optimizer) -> list[float]:
            if any("lr" not in g for g in o.param_groups):
                raise ConfigError(f"the param groups of {type(o).__name__} have no 'lr', which logging reads",
                                  hint="keep the optimizer's learning rate under 'lr' in its defaults")
            return [g["lr"] for g in o.param_groups]

        opt = self._groups()
        return {k: lrs(o) for k, o in opt.items()} if isinstance(opt, dict) else lrs(opt)

    def current_momentum(self) -> list[float] | dict[str, list[float]]:
        def momenta(o: torch.optim.Optimizer) -> list[float]:
            return [g["momentum"] if "momentum" in g else g["betas"][0] if "betas" in g else 0 for g in o.param_groups]

        opt = self._groups()
        return {k: momenta(o) for k, o in opt.items()} if isinstance(opt, dict) else momenta(opt)

    # -- hooks -------------------------------------------------------------------
    def register_hook(self, hook: Hook, priority: int | str = "NORMAL") -> None:
        """Insert ``hook`` after every hook of the same or higher priority (stable order)."""
        if not isinstance(hook, Hook):
            raise TypeError(f"{type(hook).__name__} is not a Hook")
        if hasattr(hook, "priority"):
            raise ConfigError(f"{type(hook).__name__}: 'priority' is reserved for the runner; do not set it on a hook")
        hook.priority = get_priority(priority)  # type: ignore[attr-defined]
        index = len(self._hooks)
        while index > 0 and self._hooks[index - 1].priority > hook.priority:  # type: ignore[attr-defined]
            index -= 1
        self._hooks.insert(index, hook)

    def register_hook_from_cfg(self, hook_cfg: Mapping) -> None:
        cfg = dict(hook_cfg)
        priority = cfg.pop("priority", "NORMAL")
        self.register_hook(build_from_cfg(cfg, HOOKS), priority=priority)

    def call_hook(self, fn_name: str) -> None:
        for hook in self._hooks:
            getattr(hook, fn_name)(self)

    def get_hook_info(self) -> str:
        lines = []
        for stage in Hook.stages:
            names = [
                f"({priority_name(h.priority):<12}) {type(h).__name__:<35}"  # type: ignore[attr-defined]
                for h in self._hooks
                if stage in h.get_triggered_stages()
            ]
            if names:
                lines.append(f"{stage}:\n" + "\n".join(names) + "\n -------------------- ")
        return "\n".join(lines)

    def _register_policy_hook(self, config: Mapping | Hook | None, suffix: str, priority: str) -> None:
        """``lr_config``/``momentum_config``: ``policy='step'`` -> ``StepLrUpdaterHook``."""
        if config is None:
            return
        if isinstance(config, Hook):
            self.register_hook(config, priority=priority)
            return
        cfg = dict(config)
        if "policy" not in cfg:
            raise ConfigError(f"{suffix[:-4].lower()}_config needs a 'policy' key (e.g. policy='step')")
        policy = cfg.pop("policy")
        if policy == policy.lower():  # 'step' -> 'Step'; 'CosineAnnealing' stays
            policy = policy.title()
        cfg["type"] = policy + suffix
        self.register_hook(build_from_cfg(cfg, HOOKS), priority=priority)

    def register_lr_hook(self, lr_config: Mapping | Hook | None) -> None:
        self._register_policy_hook(lr_config, "LrUpdaterHook", "VERY_HIGH")

    def register_momentum_hook(self, momentum_config: Mapping | Hook | None) -> None:
        self._register_policy_hook(momentum_config, "MomentumUpdaterHook", "HIGH")

    def _register_typed(self, config: Mapping | Hook | None, default_type: str, priority: str) -> None:
        if config is None:
            return
        if isinstance(config, Hook):
            hook = config
        else:
            cfg = dict(config)
            cfg.setdefault("type", default_type)
            hook = build_from_cfg(cfg, HOOKS)
        self.register_hook(hook, priority=priority)

    def register_optimizer_hook(self, optimizer_config: Mapping | Hook | None) -> None:
        self._register_typed(optimizer_config, "OptimizerHook", "ABOVE_NORMAL")

    def register_checkpoint_hook(self, checkpoint_config: Mapping | Hook | None) -> None:
        self._register_typed(checkpoint_config, "CheckpointHook", "NORMAL")

    def register_timer_hook(self, timer_config: Mapping | Hook | None) -> None:
        self._register_typed(timer_config, "IterTimerHook", "LOW")

    def register_logger_hooks(self, log_config: Mapping | None) -> None:
        if log_config is None:
            return
        interval = log_config.get("interval", 10)
        for info in log_config.get("hooks", []):
            hook = build_from_cfg(dict(info), HOOKS, default_args=dict(interval=interval))
            self.register_hook(hook, priority="VERY_LOW")

    def register_custom_hooks(self, custom_config: list | Mapping | Hook | None) -> None:
        if custom_config is None:
            return
        items = custom_config if isinstance(custom_config, (list, tuple)) else [custom_config]
        for item in items:
            if isinstance(item, Hook):
                self.register_hook(item, priority="NORMAL")
            else:
                self.register_hook_from_cfg(item)

    def register_training_hooks(
        self,
        lr_config: Mapping | Hook | None,
        optimizer_config: Mapping | Hook | None = None,
        checkpoint_config: Mapping | Hook | None = None,
        log_config: Mapping | None = None,
        momentum_config: Mapping | Hook | None = None,
        timer_config: Mapping | Hook | None = None,
        custom_hooks_config: list | Mapping | Hook | None = None,
    ) -> None:
        """The default hooks: LR (VERY_HIGH), momentum (HIGH), optimizer (ABOVE_NORMAL),
        checkpoint (NORMAL), timer (LOW), loggers (VERY_LOW), custom (NORMAL unless set)."""
        self.register_lr_hook(lr_config)
        self.register_momentum_hook(momentum_config)
        self.register_optimizer_hook(optimizer_config)
        self.register_checkpoint_hook(checkpoint_config)
        self.register_timer_hook(timer_config if timer_config is not None else {"type": "IterTimerHook"})
        self.register_logger_hooks(log_config)
        self.register_custom_hooks(custom_hooks_config)

    # -- one step ----------------------------------------------------------------
    def _seed_step(self, step: int) -> None:
        self._seed_for(0, step)

    def _seed_for(self, kind: int, n: int) -> None:
        """Reseed for step ``n`` (kind 0) or epoch start ``n`` (kind 1); see detcli.engine.seeding."""
        if self.seed is not None:
            seed_step(derive_seed(self.seed, kind), self.rank, n)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        device_type = self.device.type if self.device is not None else "cpu"
        return torch.autocast(device_type=device_type, dtype=self.autocast_dtype)

    def _to_device(self, batch: Any) -> Any:
        if self.device is None or self.device.type == "cpu":
            return batch
        from detcli.data import to_device

        return to_device(batch, self.device)

    def run_iter(self, data_batch: Any, train_mode: bool, **kwargs: Any) -> None:
        """Forward one batch through ``train_step``/``val_step`` and record its log values."""
        data_batch = self._to_device(data_batch)
        with self._autocast():
            if train_mode:
                outputs = self.model.train_step(data_batch, self.optimizer, **kwargs)
            else:
                outputs = self.model.val_step(data_batch, self.optimizer, **kwargs)
        if not isinstance(outputs, dict):
            raise TypeError("model.train_step() and model.val_step() must return a dict")
        log_vars = dict(outputs.get("log_vars", {}))
        if train_mode:
            # one collective per step: log values averaged over ranks + the stop flag
            log_vars["_stop"] = 1.0 if self._stop.requested else 0.0
            log_vars = all_reduce_mean(log_vars)
            self._stop_after_iter = log_vars.pop("_stop") > 0
            self._check_finite(log_vars, outputs.get("loss"))
        elif log_vars:
            log_vars = all_reduce_mean(log_vars)
        if log_vars:
            self.log_buffer.update(log_vars, outputs.get("num_samples", 1))
        self.outputs = outputs

    def _check_finite(self, log_vars: dict[str, float], loss: Any) -> None:
        bad = [k for k, v in log_vars.items() if not math.isfinite(v)]
        if not bad and isinstance(loss, torch.Tensor) and not torch.isfinite(loss.detach()).all():
            bad = ["loss"]
        if not bad:
            return
        named = [k for k in bad if k != "loss"] or bad
        name = named[0]
        value = log_vars.get(name, float("nan"))
        last = self.meta.get("hook_msgs", {}).get("last_ckpt")
        where = f"iteration {self.iter + 1} (epoch {self.epoch + 1}, batch {self.inner_iter + 1})"
        raise NonFiniteLossError(
            f"{name} became {value} at {where}; training stopped before this step changed any weight "
            f"(last checkpoint: {last or 'none saved yet'})",
            hint="lower optimizer.lr, use a warmup, or clip gradients "
            "(--cfg-options optimizer_config.grad_clip.max_norm=35 optimizer_config.grad_clip.norm_type=2)",
        )

    def _train_step(self, data_batch: Any, **kwargs: Any) -> None:
        """Hooks around one training iteration, then the counters move on."""
        self.data_batch = data_batch
        self.call_hook("before_train_iter")
        self.run_iter(data_batch, train_mode=True, **kwargs)
        self._phase = "iter_done"
        self.call_hook("after_train_iter")
        self._phase = "idle"
        del self.data_batch
        self._iter += 1
        self._done_in_epoch += 1
        # under DDP every rank must stop at the same step: the flag travels with the next step's
        # all-reduce; a single process can stop right away
        if self._stop_after_iter or (self.world_size == 1 and self._stop.requested):
            self._interrupt()

    def _stopping(self) -> contextlib.AbstractContextManager:
        self._stop = StopRequest()
        return self._stop

    def _interrupt(self) -> None:
        """Save where we are and stop (rank 0 writes; every rank raises)."""
        out_dir = self.work_dir
        for hook in self._hooks:
            if type(hook).__name__ == "CheckpointHook" and getattr(hook, "out_dir", None):
                out_dir = hook.out_dir
        path = None
        if out_dir is not None:
            name = f"iter_{self.iter}.pth"
            path = os.path.join(out_dir, name)
            if self.rank == 0:
                self.save_checkpoint(out_dir, filename_tmpl=name)
                self.logger.warning("saved %s after %s", path, self._stop.requested or "a stop request")
            barrier()
        saved = f"; checkpoint saved to {path}" if path else "; no work_dir, nothing saved"
        raise TrainingInterrupted(
            f"training stopped by {self._stop.requested or 'a signal'} at iteration {self.iter}{saved}",
            hint="continue with --resume-from <checkpoint> or --auto-resume" if path else None,
        )

    # -- checkpoints ---------------------------------------------------------------
    def load_checkpoint(
        self,
        filename: str,
        map_location: Any = "cpu",
        strict: bool = False,
        revise_keys: list = [(r"^module\.", "")],  # noqa: B006 - never mutated
    ) -> dict:
        return load_checkpoint(self.model, filename, map_location, strict, self.logger, revise=revise_keys)

    def save_checkpoint(
        self,
        out_dir: str,
        filename_tmpl: str | None = None,
        save_optimizer: bool = True,
        meta: dict | None = None,
        create_symlink: bool = True,
        by_epoch: bool | None = None,
    ) -> str:
        """Write ``out_dir/filename`` (numbered by epoch or iteration) and point ``latest.pth`` at it."""
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict or None, got {type(meta).__name__}")
        position = self._position()
        full_meta = dict(meta or {})
        full_meta.update(copy.deepcopy(self.meta))
        full_meta.update(position)
        by_epoch = self.by_epoch if by_epoch is None else by_epoch
        filename = (filename_tmpl or self.default_ckpt_tmpl).format(position["epoch" if by_epoch else "iter"])
        filepath = os.path.join(out_dir, filename)
        save_checkpoint(self.model, filepath, optimizer=self.optimizer if save_optimizer else None, meta=full_meta)
        if create_symlink:
            link_latest(filepath, os.path.join(out_dir, "latest.pth"))
        return filepath

    def resume(self, checkpoint: str, resume_optimizer: bool = True, map_location: Any = "default") -> None:
        """Continue a run: weights, optimizer state, counters and hook messages from ``checkpoint``."""
        from detcli.engine.checkpoint import load_checkpoint_file, load_state_dict, revise_keys, state_dict_of

        if map_location == "default":
            map_location = self.device if self.device is not None else "cpu"
        ckpt = load_checkpoint_file(checkpoint, map_location=map_location)
        state = revise_keys(state_dict_of(ckpt))
        report = load_state_dict(self.model, state, strict=False)
        if report.missing or report.mismatched:
            n_missing, n_mismatched = len(report.missing), len(report.mismatched)
            example = (report.missing or [k for k, _, _ in report.mismatched])[0]
            raise CheckpointError(
                f"{checkpoint} does not fit {self.model_name}: {n_missing} weights missing, {n_mismatched} with "
                f"other shapes (e.g. {example!r})",
                hint="resume needs a checkpoint of this very model; to start from another model's weights "
                "use load_from (fine-tuning)",
            )
        unexpected = [k for k in report.unexpected if not k.startswith("ema_")]
        if unexpected:
            self.logger.warning("resume %s: unexpected keys ignored: %s", checkpoint, ", ".join(unexpected))
        ckpt_meta = ckpt.get("meta") or {}
        if "epoch" not in ckpt_meta or "iter" not in ckpt_meta:
            raise CheckpointError(
                f"{checkpoint} has no training position (meta epoch/iter); it holds weights only",
                hint="use it with load_from (fine-tuning) instead of resume_from",
            )
        self._epoch = int(ckpt_meta["epoch"])
        self._iter = int(ckpt_meta["iter"])
        self._resume_inner = int(ckpt_meta.get("inner_iter", 0))
        self._resumed = True
        self._resume_position = (self._epoch, self._resume_inner) if "inner_iter" in ckpt_meta else None
        self.meta.setdefault("hook_msgs", {}).update(ckpt_meta.get("hook_msgs", {}))
        if "fp16" in ckpt_meta:
            self.meta["fp16"] = ckpt_meta["fp16"]
        self.resumed_state_dict = ckpt.get("state_dict")
        if resume_optimizer and "optimizer" in ckpt and self.optimizer is not None:
            try:
                if isinstance(self.optimizer, dict):
                    for name, opt in self.optimizer.items():
                        opt.load_state_dict(ckpt["optimizer"][name])
                else:
                    self.optimizer.load_state_dict(ckpt["optimizer"])
            except (ValueError, KeyError) as err:
                raise CheckpointError(
                    f"the optimizer state in {checkpoint} does not fit this model's optimizer ({err})",
                    hint="it comes from another model or optimizer config; use load_from to take its weights only",
                ) from err
        self.logger.info("resumed from %s: epoch %d, iter %d", checkpoint, self.epoch, self.iter)

    # -- loop helpers ------------------------------------------------------------
    def _log_start(self, workflow: list, limit: str) -> None:
        import socket

        self.logger.info("Start running, host: %s@%s, work_dir: %s", os.environ.get("USER", "?"),
                         socket.gethostname(), self.work_dir or "NONE")
        self.logger.info("Hooks will be executed in the following order:\n%s", self.get_hook_info())
        self.logger.info("workflow: %s, max: %s", workflow, limit)
