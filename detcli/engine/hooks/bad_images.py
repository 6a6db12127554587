"""Say at the end of each training epoch how many unreadable images were skipped (``skip_bad_images``)."""

from __future__ import annotations

from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class BadImageReportHook(Hook):
    """Logs the count and the first few paths of the images the epoch's datasets skipped."""

    def after_train_epoch(self, runner: Any) -> None:
        from detcli.data.bad_images import report_bad_images

        dataset = getattr(runner.data_loader, "dataset", None)
        if dataset is not None:
            report_bad_images(dataset, f"epoch {runner.epoch + 1}", runner.logger)

    def after_run(self, runner: Any) -> None:  # iteration-based runs have no epochs
        from detcli.data.bad_images import report_bad_images

        dataset = getattr(getattr(runner, "data_loader", None), "dataset", None)
        if dataset is not None:
            report_bad_images(dataset, "training", runner.logger)
