"""Hook priorities: lower runs first; names as mmcv 1.x configs spell them."""

from __future__ import annotations

from enum import Enum


class Priority(Enum):
    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


def get_priority(priority: int | str | Priority) -> int:
    """The integer value of ``priority`` (a name such as ``'NORMAL'``, an enum, or 0..100)."""
    from detcli.errors import ConfigError

    if isinstance(priority, Priority):
        return priority.value
    if isinstance(priority, bool):  # bool is an int; never a meaningful priority
        raise ConfigError(f"hook priority must be a name or an int, got {priority!r}")
    if isinstance(priority, int):
        if not 0 <= priority <= 100:
            raise ConfigError(f"hook priority {priority} is outside 0..100")
        return priority
    if isinstance(priority, str):
        try:
            return Priority[priority.upper()].value
        except KeyError:
            names = ", ".join(p.name for p in Priority)
            raise ConfigError(f"unknown hook priority {priority!r}", hint=f"use one of {names} or an int 0..100") from None
    raise ConfigError(f"hook priority must be a name or an int, got {type(priority).__name__}")


def priority_name(value: int) -> str:
    """``'NORMAL'`` for 50, the number itself for values without a name."""
    try:
        return Priority(value).name
    except ValueError:
        return str(value)
