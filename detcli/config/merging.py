"""Merging a child config (or ``--cfg-options``) into its base.

The rules are mmcv 1.x's, reproduced exactly because mmdetection's config tree relies
on them: the child wins; a child dict merges key by key into a base dict; a child dict
with ``_delete_=True`` replaces the base value instead; lists are replaced wholesale,
except that overrides may address list items by index (``pipeline.2.img_scale``).
A ``_delete_`` flag is consumed only where it actually meets a base value (elsewhere it
stays in the dict, as mmcv leaves it).
"""

from __future__ import annotations

from typing import Any

from detcli.config.config_dict import ConfigDict
from detcli.errors import ConfigError

DELETE_KEY = "_delete_"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def merge_into(child: dict, base: Any, allow_list_keys: bool = False, path: str = "",
               replace_none: bool = False) -> Any:
    """Return a copy of ``base`` with ``child`` merged into it (``child`` loses its ``_delete_`` flags).

    ``allow_list_keys`` lets digit-string keys address items of a list (or tuple) in ``base``,
    which is how ``--cfg-options data.train.pipeline.2.img_scale=...`` reaches into lists.
    ``replace_none``: a child dict that meets a ``None`` replaces it (mmcv refuses to merge a dict
    into ``None``; for an override such as ``model.backbone.init_cfg=dict(type='Pretrained', ...)``
    over ``init_cfg=None`` there is nothing to merge, and replacing is what the user asked for).
    """
    if allow_list_keys and isinstance(base, tuple):
        return tuple(merge_into(child, list(base), allow_list_keys, path, replace_none))
    merged = base.copy()
    for key, value in child.items():
        where = _join(path, key)
        if isinstance(merged, list):
            index = _list_index(key, merged, where, allow_list_keys)
            if isinstance(value, dict) and value.pop(DELETE_KEY, False):
                merged[index] = ConfigDict(value)
            else:
                merged[index] = _merge_value(value, merged[index], allow_list_keys, where, replace_none)
        elif isinstance(value, dict):
            if key in merged and not value.pop(DELETE_KEY, False):
                merged[key] = _merge_value(value, merged[key], allow_list_keys, where, replace_none)
            else:
                merged[key] = ConfigDict(value)
        else:
            merged[key] = value
    return merged


def _list_index(key: Any, items: list, where: str, allow_list_keys: bool) -> int:
    if not (allow_list_keys and isinstance(key, str) and key.isdigit()):
        raise ConfigError(
            f"cannot set '{where}': its parent is a list, which only takes item indices",
            hint="address list items by index, e.g. data.train.pipeline.2.img_scale=(1333,800)",
        )
    index = int(key)
    if index >= len(items):
        parent = where.rsplit(".", 1)[0]
        raise ConfigError(
            f"cannot set '{where}': index {index} is out of range for '{parent}', a list of length {len(items)}",
            hint=f"use an index from 0 to {len(items) - 1}, or replace the whole list with {parent}=[...]",
        )
    return index


def _merge_value(value: Any, current: Any, allow_list_keys: bool, where: str, replace_none: bool = False) -> Any:
    """``value`` (from the child) placed over ``current`` (from the base)."""
    if not isinstance(value, dict):
        return value
    if replace_none and current is None:
        return ConfigDict(value)
    mergeable = (dict, list, tuple) if allow_list_keys else (dict,)
    if not isinstance(current, mergeable):
        raise ConfigError(
            f"cannot merge '{where}': it is a dict in the child config but a "
            f"{type(current).__name__} ({current!r}) in its base",
            hint=f"add {DELETE_KEY}=True to that dict to replace the base value instead of merging into it",
        )
    return merge_into(value, current, allow_list_keys, where, replace_none)


def nest_dotted_keys(options: dict[str, Any]) -> ConfigDict:
    """``{'a.b.c': 1}`` -> ``{'a': {'b': {'c': 1}}}`` (the shape ``merge_into`` takes)."""
    nested = ConfigDict()
    for full_key, value in options.items():
        node = nested
        parts = str(full_key).split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, ConfigDict())
            if not isinstance(child, dict):
                raise ConfigError(
                    f"override '{full_key}' conflicts with the override '{'.'.join(parts[: depth + 1])}'",
                    hint="give each key once: either the whole value or its parts",
                )
            node = child
        node[parts[-1]] = value
    return nested
