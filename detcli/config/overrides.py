"""Parsing ``--cfg-options key=value`` overrides into a dict for ``Config.merge_from_dict``.

Values follow the syntax of mmcv 1.x's ``DictAction``: ``1``, ``0.5``, ``true``/``True``,
``None``, bare words as strings, ``[a,b]`` lists, ``(1333,800)`` tuples, nesting such as
``[(1,2),(3,4)]``, and ``a,b`` (a top-level comma) as a list. In addition, a quoted
item (``'a b'``, ``"1"``) is a string exactly as written, spaces included, and a dict
literal (``{'a': 1}``) is read as Python.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable
from typing import Any

from detcli.errors import ConfigError

_OPENERS = {"[": "]", "(": ")", "{": "}"}


def parse_cfg_options(options: Iterable[str] | None) -> dict[str, Any]:
    """``["a.b=1", "x=[1,2]"]`` -> ``{'a.b': 1, 'x': [1, 2]}`` (later keys win)."""
    parsed: dict[str, Any] = {}
    for option in options or ():
        key, sep, text = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"bad override '{option}': expected KEY=VALUE",
                hint="write overrides as dotted.key=value, e.g. model.backbone.depth=101 or x=[1,2]",
            )
        parsed[key] = parse_value(text, option)
    return parsed


def parse_value(text: str, option: str | None = None) -> Any:
    """One override value (see the module docstring for the syntax)."""
    text = text.strip()
    _check_balanced(text, option or text)
    if text.startswith("{"):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as err:
            raise ConfigError(
                f"bad override value {text!r} in '{option or text}': not a Python dict literal",
                hint="write dicts as {'key': value}",
            ) from err
    parts = _split_top_level(text)
    if len(parts) > 1 or text.endswith(","):
        return [parse_value(part, option) for part in parts]
    if len(text) >= 2 and text[0] in "[(" and text[-1] == _OPENERS[text[0]]:
        inner = text[1:-1].strip()
        items = [parse_value(part, option) for part in _split_top_level(inner)] if inner else []
        return tuple(items) if text[0] == "(" else items
    return _parse_scalar(text)


def _parse_scalar(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if text == "None":
        return None
    return text


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are outside brackets and quotes; a trailing comma adds no item."""
    parts, depth, quote, start = [], 0, None, 0
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    tail = text[start:].strip()
    if tail or not parts:
        parts.append(tail)
    return parts


def _check_balanced(text: str, option: str) -> None:
    stack, quote = [], None
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in ")]}":
            if not stack or stack.pop() != char:
                stack.append("x")
                break
    if stack or quote:
        raise ConfigError(
            f"bad override '{option}': unbalanced brackets or quotes",
            hint="quote the whole option for the shell, e.g. 'data.train.pipeline.2.img_scale=(1333,800)'",
        )


class DictAction(argparse.Action):
    """argparse action for ``--cfg-options k=v ...`` in user scripts (use with ``nargs='+'``)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        items = values if isinstance(values, list) else [values]
        try:
            setattr(namespace, self.dest, parse_cfg_options(items))
        except ConfigError as err:
            parser.error(f"{option_string}: {err}")
