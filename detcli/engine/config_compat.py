"""Older config spellings the trainer still accepts, rewritten to the current ones.

- ``total_epochs = 12`` (mmdetection 2.6) -> ``runner = dict(type='EpochBasedRunner', max_epochs=12)``;
- ``data.imgs_per_gpu`` -> ``data.samples_per_gpu``;
- ``data.samples_per_gpu`` / ``workers_per_gpu`` / ``persistent_workers`` and
  ``data.val.samples_per_gpu`` -> ``data.{train,val,test}_dataloader``.
The input config is not modified.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from detcli.errors import ConfigError

logger = logging.getLogger("detcli")


def compat_cfg(cfg: Any) -> Any:
    cfg = copy.deepcopy(cfg)
    _runner_args(cfg)
    if "data" in cfg:
        _imgs_per_gpu(cfg["data"])
        _loader_args(cfg["data"])
    return cfg


def _runner_args(cfg: Any) -> None:
    if cfg.get("runner") is None:
        if cfg.get("total_epochs") is None:
            raise ConfigError("the config sets neither runner nor total_epochs",
                              hint="add runner = dict(type='EpochBasedRunner', max_epochs=12)")
        cfg["runner"] = {"type": "EpochBasedRunner", "max_epochs": cfg["total_epochs"]}
        logger.info("total_epochs=%s used as runner = %s", cfg["total_epochs"], dict(cfg["runner"]))
    elif cfg.get("total_epochs") is not None and cfg["runner"].get("max_epochs") != cfg["total_epochs"]:
        raise ConfigError(
            f"total_epochs={cfg['total_epochs']} disagrees with runner.max_epochs={cfg['runner'].get('max_epochs')}",
            hint="remove total_epochs (the old spelling) or make them equal",
        )


def _imgs_per_gpu(data: Any) -> None:
    if "imgs_per_gpu" in data:
        data["samples_per_gpu"] = data.pop("imgs_per_gpu")


def _move(data: Any, key: str, targets: tuple[str, ...]) -> None:
    if key not in data:
        return
    value = data.pop(key)
    for target in targets:
        if key in data[target] and target == "train_dataloader" and key != "workers_per_gpu":
            raise ConfigError(f"data.{key} and data.{target}.{key} are both set", hint=f"keep only data.{target}.{key}")
        data[target].setdefault(key, value)


def _loader_args(data: Any) -> None:
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if data.get(name) is None:
            data[name] = {}
    _move(data, "samples_per_gpu", ("train_dataloader",))
    _move(data, "persistent_workers", ("train_dataloader",))
    _move(data, "workers_per_gpu", ("train_dataloader", "val_dataloader", "test_dataloader"))
    val = data.get("val")
    if isinstance(val, dict) and "samples_per_gpu" in val:
        data["val_dataloader"].setdefault("samples_per_gpu", val.pop("samples_per_gpu"))
    test = data.get("test")
    if isinstance(test, dict) and "samples_per_gpu" in test:
        data["test_dataloader"].setdefault("samples_per_gpu", test.pop("samples_per_gpu"))
    elif isinstance(test, list):
        per_gpu = [t.pop("samples_per_gpu", 1) for t in test]
        data["test_dataloader"].setdefault("samples_per_gpu", max(per_gpu))
