"""``runner = dict(type='EpochBasedRunner', max_epochs=12)`` -> a runner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detcli.registry import RUNNERS


def build_runner(cfg: Mapping, default_args: Mapping | None = None) -> Any:
    return RUNNERS.build(dict(cfg), default_args)
