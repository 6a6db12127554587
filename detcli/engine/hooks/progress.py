"""A rich progress bar (iterations, loss, ETA) while training on an interactive terminal.

Registered by ``train_detector`` on rank 0 when stderr is a TTY; otherwise the text
logger's plain lines are the progress report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    def __init__(self) -> None:
        self.progress: Any = None
        self.task: Any = None

    def before_run(self, runner: Any) -> None:
        if runner.rank != 0 or not runner.max_iters:
            return
        from rich.console import Console
        from rich.progress import TextColumn

        from detcli.apis.progress import rich_progress

        self.progress = rich_progress(TextColumn("{task.fields[loss]}"), console=Console(stderr=True),
                                      redirect_stderr=True, redirect_stdout=True)
        self.task = self.progress.add_task("train", total=runner.max_iters, completed=runner.iter, loss="")
        self.progress.start()
        runner.progress_display = self

    def after_train_iter(self, runner: Any) -> None:
        if self.progress is None:
            return
        loss = runner.outputs.get("log_vars", {}).get("loss")
        desc = f"epoch {runner.epoch + 1}/{runner.max_epochs}" if runner.by_epoch else "train"
        self.progress.update(self.task, completed=runner.iter + 1, description=desc,
                             loss=f"loss {loss:.4f}" if isinstance(loss, float) else "")

    def after_run(self, runner: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the bar while something else (evaluation) shows its own."""
        if self.progress is None:
            yield
            return
        self.progress.stop()
        try:
            yield
        finally:
            self.progress.start()


@contextlib.contextmanager
def progress_paused(runner: Any) -> Iterator[None]:
    display = getattr(runner, "progress_display", None)
    if display is None:
        yield
    else:
        with display.paused():
            yield
