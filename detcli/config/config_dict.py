"""``ConfigDict``: a dict whose keys are also attributes, all the way down.

Configs are read as ``cfg.model.backbone.depth`` in user code and in custom modules
written for mmcv 1.x, so nested dicts (also those inside lists and tuples) become
``ConfigDict`` too. It stays a real ``dict`` subclass: ``isinstance(x, dict)``,
``json.dumps`` and ``==`` against plain dicts all keep working.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any


def to_config_value(value: Any) -> Any:
    """Wrap plain dicts (also inside lists/tuples) as ``ConfigDict``; other values pass through."""
    if isinstance(value, ConfigDict):
        return value
    if isinstance(value, dict):
        return ConfigDict(value)
    if type(value) in (list, tuple):
        items = [to_config_value(item) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value  # nothing to wrap: keep the caller's object (and its aliasing)
        return type(value)(items)
    return value


def to_plain(value: Any) -> Any:
    """A deep copy of ``value`` made of plain ``dict``/``list``/``tuple`` containers."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(to_plain(item) for item in value)
    return value


class ConfigDict(dict):
    """A ``dict`` with attribute access; a missing attribute is an ``AttributeError``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for source in args:
            if not source:
                continue
            items = source.items() if isinstance(source, Mapping) else source
            for key, value in items:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    # -- item access: nested dicts are wrapped on the way in ------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, to_config_value(value))

    def __missing__(self, key: Any) -> Any:
        raise KeyError(key)

    # -- attribute access -------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):  # 'items', 'keys', ... stay methods
            raise AttributeError(f"'{type(self).__name__}' object attribute '{name}' is read-only")
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    # -- dict methods that must keep wrapping ---------------------------------
    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Recursive update: a dict value merges into an existing dict value (mmcv 1.x behaviour)."""
        other: dict[Any, Any] = {}
        for source in args:
            other.update(source)
        other.update(kwargs)
        for key, value in other.items():
            if key in self and isinstance(self[key], dict) and isinstance(value, dict):
                self[key].update(value)
            else:
                self[key] = value

    def copy(self) -> ConfigDict:
        """A shallow copy (nested values are shared), as ``dict.copy``."""
        return copy.copy(self)

    def deepcopy(self) -> ConfigDict:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """A plain-``dict`` deep copy (lists and tuples keep their types)."""
        return to_plain(self)

    # -- copying and pickling: ``dict`` subclasses need a little help ----------
    def __copy__(self) -> ConfigDict:
        other = type(self)()
        dict.update(other, self)
        return other

    def __deepcopy__(self, memo: dict[int, Any]) -> ConfigDict:
        other = type(self)()
        memo[id(self)] = other
        for key, value in self.items():
            dict.__setitem__(other, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return other

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (), None, None, iter(self.items()))

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ior__(self, other: Any) -> ConfigDict:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __dir__(self) -> Iterable[str]:
        return list(super().__dir__()) + [k for k in self if isinstance(k, str)]
