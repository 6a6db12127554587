"""Tell the sampler which epoch it is, so shuffling differs per epoch yet is reproducible."""

from __future__ import annotations

from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    def before_epoch(self, runner: Any) -> None:
        loader = runner.data_loader
        for sampler in (getattr(loader, "sampler", None),
                        getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(runner.epoch)
                return
