"""The hook base class: the extension point of the training loop.

A hook overrides any of the stage methods below. The generic ``before_epoch`` /
``after_epoch`` / ``before_iter`` / ``after_iter`` are called for both train and val
unless the ``_train_`` / ``_val_`` variant is overridden.
"""

from __future__ import annotations

from typing import Any


class Hook:
    stages = (
        "before_run",
        "before_train_epoch",
        "before_train_iter",
        "after_train_iter",
        "after_train_epoch",
        "before_val_epoch",
        "before_val_iter",
        "after_val_iter",
        "after_val_epoch",
        "after_run",
    )

    def before_run(self, runner: Any) -> None:
        pass

    def after_run(self, runner: Any) -> None:
        pass

    def before_epoch(self, runner: Any) -> None:
        pass

    def after_epoch(self, runner: Any) -> None:
        pass

    def before_iter(self, runner: Any) -> None:
        pass

    def after_iter(self, runner: Any) -> None:
        pass

    def before_train_epoch(self, runner: Any) -> None:
        self.before_epoch(runner)

    def before_val_epoch(self, runner: Any) -> None:
        self.before_epoch(runner)

    def after_train_epoch(self, runner: Any) -> None:
        self.after_epoch(runner)

    def after_val_epoch(self, runner: Any) -> None:
        self.after_epoch(runner)

    def before_train_iter(self, runner: Any) -> None:
        self.before_iter(runner)

    def before_val_iter(self, runner: Any) -> None:
        self.before_iter(runner)

    def after_train_iter(self, runner: Any) -> None:
        self.after_iter(runner)

    def after_val_iter(self, runner: Any) -> None:
        self.after_iter(runner)

    # -- helpers hooks use to decide whether this is their moment --------------
    def every_n_epochs(self, runner: Any, n: int) -> bool:
        return (runner.epoch + 1) % n == 0 if n > 0 else False

    def every_n_inner_iters(self, runner: Any, n: int) -> bool:
        return (runner.inner_iter + 1) % n == 0 if n > 0 else False

    def every_n_iters(self, runner: Any, n: int) -> bool:
        return (runner.iter + 1) % n == 0 if n > 0 else False

    def end_of_epoch(self, runner: Any) -> bool:
        return runner.inner_iter + 1 == len(runner.data_loader)

    def is_last_epoch(self, runner: Any) -> bool:
        return runner.epoch + 1 == runner.max_epochs

    def is_last_iter(self, runner: Any) -> bool:
        return runner.iter + 1 == runner.max_iters

    def get_triggered_stages(self) -> list[str]:
        """The stages this hook does something in (for the hook table printed at start)."""
        generic = {
            "before_epoch": ("before_train_epoch", "before_val_epoch"),
            "after_epoch": ("after_train_epoch", "after_val_epoch"),
            "before_iter": ("before_train_iter", "before_val_iter"),
            "after_iter": ("after_train_iter", "after_val_iter"),
        }
        triggered = {s for s in self.stages if _overrides(self, s)}
        for method, stages in generic.items():
            if _overrides(self, method):
                triggered.update(stages)
        return [s for s in self.stages if s in triggered]


def _overrides(hook: Hook, method: str) -> bool:
    return getattr(type(hook), method) is not getattr(Hook, method)
