"""Fail at the start of training, not after hours, when heads and dataset disagree on classes."""

from __future__ import annotations

from typing import Any

from detcli.engine.hooks.hook import Hook
from detcli.errors import ConfigError
from detcli.registry import HOOKS

# Modules whose ``num_classes`` is not the dataset's (class-agnostic proposals, backbones, ...).
_EXEMPT = {"RPNHead", "GARPNHead", "VGG", "FusedSemanticHead", "CascadeRPNHead", "StageCascadeRPNHead"}


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    def _check_head(self, runner: Any) -> None:
        dataset = runner.data_loader.dataset
        classes = getattr(dataset, "CLASSES", None)
        ds_name = type(dataset).__name__
        if classes is None:
            runner.logger.warning("%s has no CLASSES; cannot check num_classes of the heads", ds_name)
            return
        if isinstance(classes, str):
            raise ConfigError(
                f"CLASSES of {ds_name} is the string {classes!r}, not a tuple of class names",
                hint=f"write classes=({classes!r},) with a trailing comma",
            )
        model = getattr(runner.model, "module", runner.model)
        for name, module in model.named_modules():
            num = getattr(module, "num_classes", None)
            if num is None or any(c.__name__ in _EXEMPT for c in type(module).__mro__):
                continue
            if num != len(classes):
                key = f"model.{name}.num_classes" if name else "model.num_classes"
                raise ConfigError(
                    f"num_classes ({num}) of {type(module).__name__} in {type(model).__name__} does not "
                    f"match the {len(classes)} CLASSES of {ds_name}",
                    hint=f"set {key}={len(classes)}, or give the dataset the classes the model was built for",
                )

    def before_train_epoch(self, runner: Any) -> None:
        self._check_head(runner)

    def before_val_epoch(self, runner: Any) -> None:
        self._check_head(runner)
