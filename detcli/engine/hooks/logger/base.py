"""What every logger hook shares: when to log (every ``interval`` iterations, at epoch and
val ends) and how to read the averaged values out of ``runner.log_buffer``."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from detcli.engine.hooks.hook import Hook


class LoggerHook(Hook):
    def __init__(self, interval: int = 10, ignore_last: bool = True, reset_flag: bool = False,
                 by_epoch: bool = True) -> None:
        self.interval = interval
        self.ignore_last = ignore_last
        self.reset_flag = reset_flag
        self.by_epoch = by_epoch

    def log(self, runner: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def is_scalar(val: Any, include_np: bool = True, include_torch: bool = True) -> bool:
        if isinstance(val, numbers.Number):
            return True
        if include_np and isinstance(val, np.ndarray) and val.ndim == 0:
            return True
        return include_torch and isinstance(val, torch.Tensor) and val.numel() == 1

    def get_mode(self, runner: Any) -> str:
        if runner.mode == "train":
            return "train" if "time" in runner.log_buffer.output else "val"
        if runner.mode == "val":
            return "val"
        raise ValueError(f"runner mode should be 'train' or 'val', got {runner.mode!r}")

    def get_epoch(self, runner: Any) -> int:
        return runner.epoch + 1 if runner.mode == "train" else runner.epoch

    def get_iter(self, runner: Any, inner_iter: bool = False) -> int:
        return runner.inner_iter + 1 if self.by_epoch and inner_iter else runner.iter + 1

    def get_lr_tags(self, runner: Any) -> dict[str, float]:
        lrs = runner.current_lr()
        if isinstance(lrs, dict):
            return {f"learning_rate/{k}": v[0] for k, v in lrs.items()}
        return {"learning_rate": lrs[0]}

    def get_momentum_tags(self, runner: Any) -> dict[str, float]:
        moms = runner.current_momentum()
        if isinstance(moms, dict):
            return {f"momentum/{k}": v[0] for k, v in moms.items()}
        return {"momentum": moms[0]}

    def get_loggable_tags(self, runner: Any, allow_scalar: bool = True, allow_text: bool = False,
                          add_mode: bool = True, tags_to_skip: tuple = ("time", "data_time")) -> dict:
        tags = {}
        for var, val in runner.log_buffer.output.items():
            if var in tags_to_skip or (self.is_scalar(val) and not allow_scalar):
                continue
            if isinstance(val, str) and not allow_text:
                continue
            tags[f"{self.get_mode(runner)}/{var}" if add_mode else var] = val
        tags.update(self.get_lr_tags(runner))
        tags.update(self.get_momentum_tags(runner))
        return tags

    def before_run(self, runner: Any) -> None:
        # the last logger hook clears the buffer after logging, so each line covers one interval
        for hook in runner.hooks[::-1]:
            if isinstance(hook, LoggerHook):
                hook.reset_flag = True
                break

    def before_epoch(self, runner: Any) -> None:
        runner.log_buffer.clear()

    def after_train_iter(self, runner: Any) -> None:
        if self.by_epoch and self.every_n_inner_iters(runner, self.interval):
            runner.log_buffer.average(self.interval)
        elif not self.by_epoch and self.every_n_iters(runner, self.interval):
            runner.log_buffer.average(self.interval)
        elif self.end_of_epoch(runner) and not self.ignore_last:
            runner.log_buffer.average(self.interval)
        if runner.log_buffer.ready:
            self.log(runner)
            if self.reset_flag:
                runner.log_buffer.clear_output()

    def after_train_epoch(self, runner: Any) -> None:
        if runner.log_buffer.ready:
            self.log(runner)
            if self.reset_flag:
                runner.log_buffer.clear_output()

    def after_val_epoch(self, runner: Any) -> None:
        runner.log_buffer.average()
        self.log(runner)
        if self.reset_flag:
            runner.log_buffer.clear_output()
