"""The sections a command needs from a config, checked before anything is built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from detcli.errors import ConfigError


def require_keys(cfg: Any, filename: str, keys: Sequence[str], purpose: str) -> None:
    """Raise one ``ConfigError`` naming the first of the dotted ``keys`` that ``cfg`` lacks.

    ``purpose`` completes "which ... needs" (e.g. "det train").
    """
    root = cfg.to_dict() if hasattr(cfg, "to_dict") and not isinstance(cfg, Mapping) else cfg
    for key in keys:
        node: Any = root
        for depth, part in enumerate(key.split(".")):
            if not isinstance(node, Mapping) or node.get(part) is None:
                parent = ".".join(key.split(".")[:depth])
                where = f"'{parent}' has no '{part}'" if parent else f"no '{part}' key"
                empty = " (the file defines nothing)" if not root else ""
                raise ConfigError(
                    f"config {filename} has {where}, which {purpose} needs{empty}",
                    hint="inherit a complete config through _base_ (e.g. a file under configs/), "
                         "or check the key's spelling",
                )
            node = node[part]


__all__ = ["require_keys"]
