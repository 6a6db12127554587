"""Writing a config dict as Python source that, executed, gives the same dict back.

A value goes on one line when it fits; otherwise it opens one item per line, indented by
four spaces, with a trailing comma (which also keeps one-item tuples tuples); a long list of
plain scalars fills its lines like words in a paragraph. Dicts whose keys are all
identifiers are written ``dict(key=value)``, the rest ``{'key': value}``.
"""

from __future__ import annotations

import keyword
import math
from typing import Any

WIDTH = 88
INDENT = "    "


def format_python(cfg: dict[str, Any]) -> str:
    """The whole config as ``name = value`` lines."""
    lines = []
    for key, value in cfg.items():
        target = key if _is_name(key) else f"globals()[{key!r}]"
        prefix = f"{target} = "
        lines.append(prefix + _format(value, "", len(prefix)))
    return "\n".join(lines) + "\n" if lines else ""


def _is_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _format(value: Any, indent: str, used: int) -> str:
    """``value`` written at ``indent``, on a line that already holds ``used`` characters."""
    flat = _inline(value)
    if len(indent) + used + len(flat) <= WIDTH or not _is_container(value) or not value:
        return flat
    inner = indent + INDENT
    if isinstance(value, dict):
        keyword_style = all(_is_name(k) for k in value)
        entries = []
        for key, item in value.items():
            head = f"{key}=" if keyword_style else f"{key!r}: "
            entries.append(f"{inner}{head}{_format(item, inner, len(head) + 1)},")
        opener, closer = ("dict(", ")") if keyword_style else ("{", "}")
    elif not any(_is_container(item) for item in value):
        entries = _fill([_inline(item) + "," for item in value], inner)
        opener, closer = ("[", "]") if isinstance(value, list) else ("(", ")")
    else:
        entries = [f"{inner}{_format(item, inner, 1)}," for item in value]
        opener, closer = ("[", "]") if isinstance(value, list) else ("(", ")")
    return opener + "\n" + "\n".join(entries) + "\n" + indent + closer


def _fill(words: list[str], indent: str) -> list[str]:
    """Scalars flow like words in a paragraph: as many per line as fit."""
    lines, line = [], ""
    for word in words:
        if line and len(indent) + len(line) + 1 + len(word) > WIDTH:
            lines.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(indent + line)
    return lines


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple))


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        if all(_is_name(k) for k in value):
            return "dict(" + ", ".join(f"{k}={_inline(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{k!r}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({_inline(value[0])},)"
        return "(" + ", ".join(_inline(v) for v in value) + ")"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float('{value}')"
    return repr(value)
