"""``build_dataset``: a dataset (or a concatenation/wrapper of datasets) from config."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from detcli.data.datasets.wrappers import ClassBalancedDataset, ConcatDataset, RepeatDataset
from detcli.errors import ConfigError
from detcli.registry import DATASETS, build_from_cfg


def _concat_ann_files(cfg: Mapping, default_args: Mapping | None) -> ConcatDataset:
    """``ann_file=[a, b]`` (with optional parallel ``img_prefix``/``seg_prefix``/``proposal_file`` lists)."""
    ann_files = cfg["ann_file"]
    parallel = {k: cfg.get(k) for k in ("img_prefix", "seg_prefix", "proposal_file")}
    datasets = []
    for i, ann_file in enumerate(ann_files):
        part = copy.deepcopy(dict(cfg))
        part.pop("separate_eval", None)
        part["ann_file"] = ann_file
        for key, value in parallel.items():
            if isinstance(value, (list, tuple)):
                if len(value) != len(ann_files):
                    raise ConfigError(f"{key} has {len(value)} entries for {len(ann_files)} ann_files")
                part[key] = value[i]
        datasets.append(build_dataset(part, default_args))
    return ConcatDataset(datasets, cfg.get("separate_eval", True))


def build_dataset(cfg: Any, default_args: Mapping | None = None) -> Any:
    """Build from a config dict; a list of configs, ``ConcatDataset``, ``RepeatDataset``,
    ``ClassBalancedDataset`` and ``ann_file`` lists are handled here."""
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"a dataset config must be a dict, got {type(cfg).__name__}")
    kind = cfg.get("type")
    if kind == "ConcatDataset":
        return ConcatDataset([build_dataset(c, default_args) for c in cfg["datasets"]], cfg.get("separate_eval", True))
    if kind == "RepeatDataset":
        return RepeatDataset(build_dataset(cfg["dataset"], default_args), cfg["times"])
    if kind == "ClassBalancedDataset":
        return ClassBalancedDataset(build_dataset(cfg["dataset"], default_args), cfg["oversample_thr"],
                                    cfg.get("filter_empty_gt", True))
    if isinstance(cfg.get("ann_file"), (list, tuple)):
        return _concat_ann_files(cfg, default_args)
    return build_from_cfg(cfg, DATASETS, default_args)
