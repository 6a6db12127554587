"""Checking a build config against the constructor it is about to call.

A typo (``deph=50``) or a wrong type (``lr='fast'``) in a config otherwise surfaces as a
Python ``TypeError`` from deep inside the class, or later still; checked here, the error
names the class, the key, what is expected and the closest valid keys.

Only what is certain is checked: unknown keys when the constructor takes no ``**kwargs``,
and types of arguments annotated with plain scalar types (int, float, bool, str, None,
Tensor). Containers and custom types are left to the class.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from detcli.config.merging import DELETE_KEY
from detcli.errors import ConfigError

_UNEXPECTED = re.compile(r"got an unexpected keyword argument '(\w+)'")


def _name(obj: Any) -> str:
    return getattr(obj, "__name__", repr(obj))


def _accepted_keys(target: Callable) -> tuple[list[str], bool]:
    """Named parameters of ``target`` (a class: its ``__init__`` and, through ``**kwargs``,
    its bases'), and whether it still takes any keyword."""
    chain = [c.__init__ for c in inspect.getmro(target) if "__init__" in vars(c)] if inspect.isclass(target) \
        else [target]
    names: list[str] = []
    for func in chain:
        if func is object.__init__:
            return names, True
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):  # builtins without signatures
            return names, True
        names += [n for n, p in params.items() if n != "self" and n not in names
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names, False
    return names, True


def unknown_key_error(target: Callable, key: str, where: str | None = None) -> ConfigError:
    """The error for ``key``, which ``target`` does not take."""
    valid, _ = _accepted_keys(target)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    guess = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(valid[:25]) + (", ..." if len(valid) > 25 else "")
    return ConfigError(f"{where or _name(target)} got an unknown key {key!r}{guess} (valid keys: {shown})",
                       hint="fix or remove that key in the config (or in --cfg-options)")


def _scalar_types(annotation: Any) -> tuple[type, ...] | None:
    """The plain types an annotation allows, or None when it is anything else."""
    import torch

    known = {int, float, bool, str, type(None), torch.Tensor}
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    if not members or not all(m in known for m in members):
        return None
    return tuple(members)


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if value is None:
        return type(None) in allowed
    if isinstance(value, str):
        return str in allowed
    if isinstance(value, numbers.Number):  # bool/int/numpy numbers; int where float is asked is fine
        if isinstance(value, numbers.Integral):
            return bool({int, float, bool} & set(allowed))
        return float in allowed
    import torch

    return isinstance(value, torch.Tensor) and torch.Tensor in allowed


def _type_names(allowed: tuple[type, ...]) -> str:
    names = {int: "an int", float: "a number", bool: "True/False", str: "a string", type(None): "None"}
    return " or ".join(names.get(t, t.__name__) for t in allowed)


def _hints(target: Callable) -> dict[str, Any]:
    func = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(func)
    except (NameError, TypeError, AttributeError, SyntaxError):  # unresolvable: no type check for it
        return {}


def check_build_args(target: Callable, args: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` for a ``_delete_`` left in ``args``, a key ``target`` does not take,
    or a value of the wrong plain type."""
    if DELETE_KEY in args:
        raise ConfigError(
            f"{_name(target)}: its config still holds {DELETE_KEY}=True, which only works in a dict that "
            "replaces a dict of a base config (lists, and the dicts inside them, are always replaced whole)",
            hint=f"remove {DELETE_KEY} from that entry",
        )
    valid, open_ended = _accepted_keys(target)
    if not open_ended:
        unknown = [k for k in args if k not in valid]
        if unknown:
            raise unknown_key_error(target, unknown[0])
    hints = _hints(target)
    for key, value in args.items():
        allowed = _scalar_types(hints.get(key)) if key in hints else None
        if allowed and not _fits(value, allowed):
            raise ConfigError(f"{_name(target)}: {key}={value!r} should be {_type_names(allowed)}; "
                              f"got {type(value).__name__}",
                              hint=f"fix {key} in the config (or in --cfg-options)")


def unexpected_key_in(err: TypeError, target: Callable, args: Mapping[str, Any]) -> ConfigError | None:
    """A ``TypeError`` from calling ``target(**args)`` that rejects one of ``args``' keys, as a
    ``ConfigError`` (constructors that pass ``**kwargs`` on only find out when called)."""
    match = _UNEXPECTED.search(str(err))
    if match and match[1] in args and err.__traceback__ is not None:
        return unknown_key_error(target, match[1])
    return None


__all__ = ["check_build_args", "unexpected_key_in", "unknown_key_error"]
