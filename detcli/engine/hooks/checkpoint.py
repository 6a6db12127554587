"""Periodic checkpoints (``checkpoint_config``): ``epoch_N.pth``/``iter_N.pth`` plus ``latest.pth``."""

from __future__ import annotations

import os
from typing import Any

from detcli.engine.dist import average_buffers, get_dist_info
from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Save every ``interval`` epochs (or iterations with ``by_epoch=False``) and at the end.

    ``out_dir`` puts checkpoints in ``out_dir/<work_dir name>``; ``max_keep_ckpts``
    deletes older periodic checkpoints; other keyword arguments (``meta``,
    ``filename_tmpl``, ``create_symlink``) go to ``runner.save_checkpoint``.
    """

    def __init__(self, interval: int = -1, by_epoch: bool = True, save_optimizer: bool = True,
                 out_dir: str | None = None, max_keep_ckpts: int = -1, save_last: bool = True,
                 sync_buffer: bool = False, file_client_args: dict | None = None, **kwargs: Any) -> None:
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_optimizer = save_optimizer
        self.out_dir = out_dir
        self.max_keep_ckpts = max_keep_ckpts
        self.save_last = save_last
        self.sync_buffer = sync_buffer
        self.args = kwargs

    def before_run(self, runner: Any) -> None:
        if not self.out_dir:
            self.out_dir = runner.work_dir
        elif runner.work_dir is not None and os.path.abspath(self.out_dir) != runner.work_dir:
            self.out_dir = os.path.join(self.out_dir, os.path.basename(runner.work_dir.rstrip(os.sep)))
        runner.logger.info("Checkpoints will be saved to %s", self.out_dir)

    def _template(self) -> str:
        return self.args.get("filename_tmpl", "epoch_{}.pth" if self.by_epoch else "iter_{}.pth")

    def after_train_epoch(self, runner: Any) -> None:
        if self.by_epoch and (self.every_n_epochs(runner, self.interval)
                              or (self.save_last and self.is_last_epoch(runner))):
            runner.logger.info("Saving checkpoint at %d epochs", runner.epoch + 1)
            self._save(runner)

    def after_train_iter(self, runner: Any) -> None:
        if not self.by_epoch and (self.every_n_iters(runner, self.interval)
                                  or (self.save_last and self.is_last_iter(runner))):
            runner.logger.info("Saving checkpoint at %d iterations", runner.iter + 1)
            self._save(runner)

    def _save(self, runner: Any) -> None:
        if self.sync_buffer:
            average_buffers(runner.model)
        if get_dist_info()[0] != 0 or self.out_dir is None:
            return
        args = {k: v for k, v in self.args.items() if k != "filename_tmpl"}
        path = runner.save_checkpoint(self.out_dir, filename_tmpl=self._template(),
                                      save_optimizer=self.save_optimizer, by_epoch=self.by_epoch, **args)
        runner.meta.setdefault("hook_msgs", {})["last_ckpt"] = path
        if self.max_keep_ckpts > 0:
            current = runner.epoch + 1 if self.by_epoch else runner.iter + 1
            for step in range(current - self.max_keep_ckpts * self.interval, 0, -self.interval):
                old = os.path.join(self.out_dir, self._template().format(step))
                if not os.path.isfile(old):
                    break
                os.remove(old)

