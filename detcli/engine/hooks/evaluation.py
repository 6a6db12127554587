"""Evaluation during training (``evaluation = dict(interval=1, metric='bbox', save_best='auto')``).

Every ``interval`` epochs (or iterations with ``by_epoch=False``) the model is run over
the val loader (``detcli.apis.test.single_gpu_test``, or ``multi_gpu_test`` under DDP),
``dataset.evaluate(results, **eval_kwargs)`` turns the results into metrics, and the
metrics become a ``val`` line of the logs. With ``save_best`` the best checkpoint so far
is kept as ``best_<metric>_epoch_N.pth`` (``rule`` greater/less, guessed from the name).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable
from math import inf
from typing import Any

from detcli.engine.dist import broadcast_buffers
from detcli.engine.hooks.hook import Hook
from detcli.engine.hooks.logger.base import LoggerHook
from detcli.engine.hooks.progress import progress_paused
from detcli.errors import ConfigError
from detcli.registry import HOOKS

_RULES: dict[str, Callable[[float, float], bool]] = {"greater": lambda a, b: a > b, "less": lambda a, b: a < b}
_INIT = {"greater": -inf, "less": inf}


def _dynamic_intervals(start_interval: int, dynamic: list) -> tuple[list[int], list[int]]:
    milestones = [0] + [int(m) for m, _ in dynamic]
    intervals = [start_interval] + [int(i) for _, i in dynamic]
    return milestones, intervals


@HOOKS.register_module()
class EvalHook(Hook):
    greater_keys = ["acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc"]
    less_keys = ["loss"]

    def __init__(self, dataloader: Any, start: int | None = None, interval: int = 1, by_epoch: bool = True,
                 save_best: str | None = None, rule: str | None = None, test_fn: Callable | None = None,
                 greater_keys: list[str] | None = None, less_keys: list[str] | None = None,
                 out_dir: str | None = None, file_client_args: dict | None = None,
                 dynamic_intervals: list | None = None, **eval_kwargs: Any) -> None:
        if not hasattr(dataloader, "dataset"):
            raise ConfigError(f"EvalHook needs a data loader, got {type(dataloader).__name__}")
        if interval <= 0:
            raise ConfigError(f"evaluation.interval must be positive, got {interval}")
        if start is not None and start < 0:
            raise ConfigError(f"evaluation.start must be >= 0, got {start}")
        if save_best is not None and not isinstance(save_best, str):
            raise ConfigError(f"evaluation.save_best must be a metric name or 'auto', got {save_best!r}")
        self.dataloader = dataloader
        self.interval = interval
        self.start = start
        self.by_epoch = by_epoch
        self.save_best = save_best
        self.eval_kwargs = eval_kwargs
        self.test_fn = test_fn
        self.initial_flag = True
        if greater_keys is not None:
            self.greater_keys = [greater_keys] if isinstance(greater_keys, str) else list(greater_keys)
        if less_keys is not None:
            self.less_keys = [less_keys] if isinstance(less_keys, str) else list(less_keys)
        self.out_dir = out_dir
        self.best_ckpt_path: str | None = None
        self.latest_results: list | None = None
        self.use_dynamic_intervals = dynamic_intervals is not None
        if self.use_dynamic_intervals:
            self.dynamic_milestones, self.dynamic_intervals = _dynamic_intervals(interval, dynamic_intervals)
        if save_best is not None:
            self._init_rule(rule, save_best)

    def _init_rule(self, rule: str | None, key_indicator: str) -> None:
        if rule is not None and rule not in _RULES:
            raise ConfigError(f"evaluation.rule must be 'greater', 'less' or None, got {rule!r}")
        if rule is None and key_indicator != "auto":
            key = key_indicator.lower()
            greater = [k.lower() for k in self.greater_keys]
            less = [k.lower() for k in self.less_keys]
            if key in greater:
                rule = "greater"
            elif key in less:
                rule = "less"
            elif any(k in key for k in greater):
                rule = "greater"
            elif any(k in key for k in less):
                rule = "less"
            else:
                raise ConfigError(f"cannot tell whether a larger {key_indicator!r} is better",
                                  hint="set evaluation.rule='greater' or 'less'")
        self.rule = rule
        self.key_indicator = key_indicator
        self.compare_func = _RULES[rule] if rule is not None else None

    def before_run(self, runner: Any) -> None:
        if not self.out_dir:
            self.out_dir = runner.work_dir
        elif runner.work_dir is not None and os.path.abspath(self.out_dir) != runner.work_dir:
            self.out_dir = os.path.join(self.out_dir, os.path.basename(runner.work_dir.rstrip(os.sep)))
        if self.save_best is not None:
            self.best_ckpt_path = runner.meta.setdefault("hook_msgs", {}).get("best_ckpt")

    def _decide_interval(self, runner: Any) -> None:
        if self.use_dynamic_intervals:
            progress = runner.epoch if self.by_epoch else runner.iter
            self.interval = self.dynamic_intervals[bisect.bisect(self.dynamic_milestones, progress + 1) - 1]

    def before_train_iter(self, runner: Any) -> None:
        self._decide_interval(runner)
        if self.by_epoch or not self.initial_flag:
            return
        if self.start is not None and runner.iter >= self.start:
            self.after_train_iter(runner)
        self.initial_flag = False

    def before_train_epoch(self, runner: Any) -> None:
        self._decide_interval(runner)
        if not (self.by_epoch and self.initial_flag):
            return
        if self.start is not None and runner.epoch >= self.start:
            self.after_train_epoch(runner)
        self.initial_flag = False

    def after_train_iter(self, runner: Any) -> None:
        if not self.by_epoch and self._should_evaluate(runner):
            for hook in runner.hooks:  # log the training interval before the val line
                if isinstance(hook, LoggerHook):
                    hook.after_train_iter(runner)
            runner.log_buffer.clear()
            self._do_evaluate(runner)

    def after_train_epoch(self, runner: Any) -> None:
        if self.by_epoch and self._should_evaluate(runner):
            self._do_evaluate(runner)

    def _should_evaluate(self, runner: Any) -> bool:
        current = runner.epoch if self.by_epoch else runner.iter
        if self.start is None:
            return (current + 1) % self.interval == 0
        if current + 1 < self.start:
            return False
        return (current + 1 - self.start) % self.interval == 0

    def _run_test(self, runner: Any) -> list:
        fn = self.test_fn
        if fn is None:
            from detcli.apis.test import single_gpu_test

            fn = single_gpu_test
        return fn(runner.model, self.dataloader, show=False)

    def _do_evaluate(self, runner: Any) -> None:
        with progress_paused(runner):
            results = self._run_test(runner)
        self.latest_results = results
        if runner.rank == 0:
            runner.log_buffer.output["eval_iter_num"] = len(self.dataloader)
            key_score = self.evaluate(runner, results)
            if self.save_best and key_score is not None:
                self._save_ckpt(runner, key_score)

    def _save_ckpt(self, runner: Any, key_score: float) -> None:
        cur_type = "epoch" if self.by_epoch else "iter"
        cur_time = runner.epoch + 1 if self.by_epoch else runner.iter + 1
        hook_msgs = runner.meta.setdefault("hook_msgs", {})
        best_score = hook_msgs.get("best_score", _INIT[self.rule])
        if not self.compare_func(key_score, best_score):
            return
        hook_msgs["best_score"] = float(key_score)
        if self.best_ckpt_path and os.path.isfile(self.best_ckpt_path):
            os.remove(self.best_ckpt_path)
            runner.logger.info("removed the previous best checkpoint %s", self.best_ckpt_path)
        name = f"best_{self.key_indicator}_{cur_type}_{cur_time}.pth"
        self.best_ckpt_path = os.path.join(self.out_dir, name)
        hook_msgs["best_ckpt"] = self.best_ckpt_path
        runner.save_checkpoint(self.out_dir, filename_tmpl=name, create_symlink=False)
        runner.logger.info("Now best checkpoint is saved as %s.", name)
        runner.logger.info("Best %s is %.4f at %d %s.", self.key_indicator, key_score, cur_time, cur_type)

    def evaluate(self, runner: Any, results: list) -> float | None:
        eval_res = self.dataloader.dataset.evaluate(results, logger=runner.logger, **self.eval_kwargs)
        if not eval_res:  # one line that says why, instead of an empty Epoch(val) line
            self._log_no_metrics(runner, results)
            return None
        for name, val in eval_res.items():
            runner.log_buffer.output[name] = val
        runner.log_buffer.ready = True
        if self.save_best is None:
            return None
        if self.key_indicator == "auto":
            self._init_rule(self.rule, next(iter(eval_res)))
        if self.key_indicator not in eval_res:
            raise ConfigError(f"evaluation.save_best={self.key_indicator!r} is not among the metrics "
                              f"{sorted(eval_res)}", hint="use one of them, or save_best='auto'")
        return float(eval_res[self.key_indicator])


    def _log_no_metrics(self, runner: Any, results: list) -> None:
        from detcli.evaluation.coco_format import count_detections

        runner.log_buffer.output.pop("eval_iter_num", None)
        head = f"Epoch(val) [{runner.epoch + 1}]" if self.by_epoch else f"Iter(val) [{runner.iter + 1}]"
        if count_detections(results) == 0:
            why = f"no detections on the {len(results)} validation images, no metrics"
        else:
            why = "the evaluation returned no metrics"
        skipped = "; save_best skipped" if self.save_best is not None else ""
        runner.logger.info("%s\t%s%s", head, why, skipped)


@HOOKS.register_module()
class DistEvalHook(EvalHook):
    """EvalHook for DDP: every rank tests its share, rank 0 gathers, evaluates and logs."""

    def __init__(self, dataloader: Any, start: int | None = None, interval: int = 1, by_epoch: bool = True,
                 save_best: str | None = None, rule: str | None = None, test_fn: Callable | None = None,
                 greater_keys: list[str] | None = None, less_keys: list[str] | None = None,
                 broadcast_bn_buffer: bool = True, tmpdir: str | None = None, gpu_collect: bool = False,
                 out_dir: str | None = None, file_client_args: dict | None = None,
                 dynamic_intervals: list | None = None, **eval_kwargs: Any) -> None:
        super().__init__(dataloader, start=start, interval=interval, by_epoch=by_epoch, save_best=save_best,
                         rule=rule, test_fn=test_fn, greater_keys=greater_keys, less_keys=less_keys,
                         out_dir=out_dir, dynamic_intervals=dynamic_intervals, **eval_kwargs)
        self.broadcast_bn_buffer = broadcast_bn_buffer
        self.tmpdir = tmpdir
        self.gpu_collect = gpu_collect

    def _run_test(self, runner: Any) -> list:
        if self.broadcast_bn_buffer:
            broadcast_buffers(runner.model)
        fn = self.test_fn
        if fn is None:
            from detcli.apis.test import multi_gpu_test

            fn = multi_gpu_test
        tmpdir = self.tmpdir or os.path.join(runner.work_dir or ".", ".eval_hook")
        return fn(runner.model, self.dataloader, tmpdir=tmpdir, gpu_collect=self.gpu_collect)
