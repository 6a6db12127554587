"""Resolve a layer config (``dict(type=..., **kwargs)``) against a layer registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detcli.errors import RegistryError
from detcli.registry import Registry


def resolve_layer(registry: Registry, cfg: Mapping, what: str) -> tuple[Any, dict]:
    """The class named by ``cfg['type']`` and the remaining keyword arguments.

    Layer builders take positional arguments (channels, kernel size) that
    ``build_from_cfg`` cannot pass, hence this split lookup.
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f"{what} cfg must be a dict, got {type(cfg).__name__}")
    if "type" not in cfg:
        raise RegistryError(f"the {what} cfg has no 'type' key: {dict(cfg)}")
    kwargs = dict(cfg)
    layer_type = kwargs.pop("type")
    if not isinstance(layer_type, str):
        return layer_type, kwargs
    layer_cls = registry.get(layer_type)
    if layer_cls is None:
        close = registry.suggestions(layer_type)
        extra = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise RegistryError(
            f"unknown {what} type {layer_type!r}{extra}",
            hint=f"registered {what} types: {', '.join(sorted(registry.module_dict))}",
        )
    return layer_cls, kwargs
