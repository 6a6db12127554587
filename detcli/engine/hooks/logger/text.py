"""The text log (via the ``detcli`` logger) and the ``<timestamp>.log.json`` of a run.

The json log is mmdetection 2.x's format, which ``det analyze-logs`` and mmdetection's
own tools read: the first line is the run's meta (env_info, config, seed, exp_name),
then one object per logging interval: ``mode, epoch, iter, lr, memory, data_time,
<losses>, time`` for training and ``mode, epoch, iter, lr, <metrics>`` for validation.
``memory`` is the peak CUDA memory in MB, or the process' peak resident memory on CPU.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections import OrderedDict
from typing import Any

import torch

from detcli.engine.hooks.logger.base import LoggerHook
from detcli.registry import HOOKS

_NOT_LOSSES = ("mode", "Epoch", "iter", "lr", "time", "data_time", "memory", "epoch")


def peak_memory_mb(runner: Any) -> int:
    """Peak memory of this run in MB: CUDA allocations (max over ranks) or the process' peak RSS."""
    device = getattr(runner, "device", None)
    if device is not None and device.type == "cuda":
        from detcli.engine.dist import all_reduce_max

        return int(all_reduce_max(torch.cuda.max_memory_allocated(device) // (1024 * 1024)))
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak // 1024 if sys.platform != "darwin" else peak // (1024 * 1024))
    except ImportError:  # pragma: no cover - Windows
        return 0


def _round_floats(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, list):
        return [_round_floats(v) for v in value]
    return value


@HOOKS.register_module()
class TextLoggerHook(LoggerHook):
    def __init__(self, by_epoch: bool = True, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, interval_exp_name: int = 1000, out_dir: str | None = None,
                 out_suffix: str | tuple = (".log.json", ".log", ".py"), keep_local: bool = True,
                 file_client_args: dict | None = None) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.time_sec_tot = 0.0
        self.interval_exp_name = interval_exp_name
        self.out_dir = out_dir
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)
        self.keep_local = keep_local
        self.json_log_path: str | None = None

    def before_run(self, runner: Any) -> None:
        super().before_run(runner)
        self.start_iter = runner.iter
        if runner.work_dir is not None:
            self.json_log_path = os.path.join(runner.work_dir, f"{runner.timestamp}.log.json")
        if runner.meta:
            self._dump_log({k: v for k, v in runner.meta.items() if k in ("env_info", "config", "seed", "exp_name")}
                           or dict(runner.meta), runner)

    def _log_info(self, log_dict: dict, runner: Any) -> None:
        exp_name = (runner.meta or {}).get("exp_name")
        if exp_name and (self.every_n_iters(runner, self.interval_exp_name)
                         or (self.by_epoch and self.end_of_epoch(runner))):
            runner.logger.info("Exp name: %s", exp_name)
        if log_dict["mode"] == "train":
            lr = log_dict["lr"]
            lr_str = " ".join(f"lr_{k}: {v:.3e}" for k, v in lr.items()) if isinstance(lr, dict) else f"lr: {lr:.3e}"
            if self.by_epoch:
                head = f"Epoch [{log_dict['epoch']}][{log_dict['iter']}/{len(runner.data_loader)}]\t"
            else:
                head = f"Iter [{log_dict['iter']}/{runner.max_iters}]\t"
            line = head + f"{lr_str}, "
            if "time" in log_dict:
                self.time_sec_tot += log_dict["time"] * self.interval
                avg = self.time_sec_tot / (runner.iter - self.start_iter + 1)
                eta = datetime.timedelta(seconds=int(avg * (runner.max_iters - runner.iter - 1)))
                line += f"eta: {eta}, time: {log_dict['time']:.3f}, data_time: {log_dict['data_time']:.3f}, "
                line += f"memory: {log_dict['memory']}, "
        elif self.by_epoch:
            line = f"Epoch({log_dict['mode']}) [{log_dict['epoch']}][{log_dict['iter']}]\t"
        else:
            line = f"Iter({log_dict['mode']}) [{log_dict['iter']}]\t"
        items = [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                 for k, v in log_dict.items() if k not in _NOT_LOSSES]
        runner.logger.info(line + ", ".join(items))

    def _dump_log(self, log_dict: dict, runner: Any) -> None:
        if runner.rank != 0 or self.json_log_path is None:
            return
        record = OrderedDict((k, _round_floats(v)) for k, v in log_dict.items())
        with open(self.json_log_path, "a+", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_jsonable) + "\n")

    def log(self, runner: Any) -> OrderedDict:
        output = runner.log_buffer.output
        cur_iter = output.pop("eval_iter_num") if "eval_iter_num" in output else self.get_iter(runner, inner_iter=True)
        log_dict: OrderedDict = OrderedDict(mode=self.get_mode(runner), epoch=self.get_epoch(runner), iter=cur_iter)
        lrs = runner.current_lr()
        log_dict["lr"] = {k: v[0] for k, v in lrs.items()} if isinstance(lrs, dict) else lrs[0]
        if "time" in output:
            log_dict["memory"] = peak_memory_mb(runner)
        log_dict.update(output)
        self._log_info(log_dict, runner)
        self._dump_log(log_dict, runner)
        return log_dict

    def after_run(self, runner: Any) -> None:
        if self.out_dir is None or runner.work_dir is None or runner.rank != 0:
            return
        import shutil

        target = os.path.join(self.out_dir, os.path.basename(runner.work_dir.rstrip(os.sep)))
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(runner.work_dir)):
            if name.endswith(self.out_suffix):
                shutil.copyfile(os.path.join(runner.work_dir, name), os.path.join(target, name))
                if not self.keep_local:
                    os.remove(os.path.join(runner.work_dir, name))
        runner.logger.info("text logs copied to %s", target)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
