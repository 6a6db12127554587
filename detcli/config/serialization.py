"""JSON and YAML reading/writing for configs.

YAML keeps tuples (``!!python/tuple``, the tag mmcv's full loader writes) through a
safe loader that knows just that one Python tag, so ``img_scale=(1333, 800)`` survives a
round trip; JSON has no tuples, so they come back as lists.
"""

from __future__ import annotations

import json
from typing import Any

import yaml


class _TupleSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus ``!!python/tuple``."""


_TupleSafeLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node))
)


class _TupleSafeDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that writes dict subclasses as maps and tuples as ``!!python/tuple``."""


_TupleSafeDumper.add_representer(
    tuple, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:python/tuple", data)
)
_TupleSafeDumper.add_multi_representer(dict, lambda dumper, data: dumper.represent_dict(data.items()))


def parse_json(text: str) -> Any:
    return json.loads(text)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_TupleSafeLoader)  # noqa: S506 - a SafeLoader subclass


def to_json(data: Any, indent: int | None = 4) -> str:
    """JSON text; values JSON has no type for (tuples aside) are written as their ``repr``."""
    return json.dumps(data, indent=indent, default=_json_fallback, ensure_ascii=False)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return repr(value)


def to_yaml(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_TupleSafeDumper, sort_keys=False, default_flow_style=None, allow_unicode=True
    )
