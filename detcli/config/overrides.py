"""Parsing ``--cfg-options key=value`` overrides into a dict for ``Config.merge_from_dict``.

Values follow the syntax of mmcv 1.x's ``DictAction``: ``1``, ``0.5``, ``true``/``True``,
``None``, bare words as strings, ``[a,b]`` lists, ``(1333,800)`` tuples, nesting such as
``[(1,2),(3,4)]``, and ``a,b`` (a top-level comma) as a list. In addition, a quoted
item (``'a b'``, ``"1"``) is a string exactly as written, spaces included, and a dict
written the way configs write it, ``dict(type='Pretrained', checkpoint='x.pth')`` or
``{'a': 1}`` (nested, with literal values), becomes a dict. mmcv keeps such a value as a
string (or splits it at its commas); here it is read with ``ast``, never evaluated, and a
dict that is not made of literals is refused with the dotted keys that say the same.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterable
from typing import Any

from detcli.errors import ConfigError

_OPENERS = {"[": "]", "(": ")", "{": "}"}
_DICT_CALL = re.compile(r"^dict\s*\(")


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
    parts = _split_top_level(text)
    if len(parts) > 1 or text.endswith(","):
        return [parse_value(part, option) for part in parts]
    if text.startswith("{") or _DICT_CALL.match(text):
        return parse_dict_value(text, option)
    if len(text) >= 2 and text[0] in "[(" and text[-1] == _OPENERS[text[0]]:
        inner = text[1:-1].strip()
        items = [parse_value(part, option) for part in _split_top_level(inner)] if inner else []
        return tuple(items) if text[0] == "(" else items
    return _parse_scalar(text)


def parse_dict_value(text: str, option: str | None = None) -> dict:
    """``dict(a=1, b=dict(c=[1, 2]))`` or ``{'a': 1}`` -> a dict; anything but literals is refused."""
    option = option or text
    try:
        tree = ast.parse(text, mode="eval").body
        if isinstance(tree, (ast.Call, ast.Dict)):
            return _literal(tree)
        raise _NotLiteral(tree)
    except SyntaxError as err:
        raise ConfigError(
            f"bad override '{option}': {text!r} is not a Python dict",
            hint="write dict(key=value, ...) or {'key': value} with quoted strings, "
            "e.g. model.backbone.init_cfg=dict(type='Pretrained', checkpoint='x.pth')",
        ) from err
    except _NotLiteral as err:
        what = ast.get_source_segment(text, err.node) or text
        raise ConfigError(
            f"bad override '{option}': {what!r} is not a literal value (quote strings; no calls but dict(...))",
            hint=_dotted_hint(option, text),
        ) from None


class _NotLiteral(Exception):
    def __init__(self, node: ast.AST) -> None:
        super().__init__()
        self.node = node


def _literal(node: ast.AST) -> Any:
    """The value of a literal expression; ``dict(k=v, ...)`` calls count as literals."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, ast.List):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(item) for item in node.elts)
    if isinstance(node, ast.Dict):
        for key in node.keys:
            if not isinstance(key, ast.Constant):  # {**other}, {name: 1}, {(1, 2): 1}
                raise _NotLiteral(key if key is not None else node)
        return {key.value: _literal(value) for key, value in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" \
            and not node.args and all(kw.arg is not None for kw in node.keywords):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    raise _NotLiteral(node)


def _dotted_hint(option: str, text: str) -> str:
    """``KEY=dict(a=x, b=1)`` -> a hint that shows ``KEY.a=x KEY.b=1``."""
    key = option.partition("=")[0].strip() if "=" in option else "KEY"
    example = "model.backbone.init_cfg=dict(type='Pretrained', checkpoint='x.pth')"
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        tree = None
    pairs: list[tuple[str, ast.AST]] = []
    if isinstance(tree, ast.Call):
        pairs = [(kw.arg, kw.value) for kw in tree.keywords if kw.arg]
    elif isinstance(tree, ast.Dict):
        pairs = [(k.value, v) for k, v in zip(tree.keys, tree.values)
                 if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if not pairs:
        return f"quote strings inside the dict, e.g. {example}"
    dotted = " ".join(f"{key}.{name}={ast.get_source_segment(text, value)}" for name, value in pairs)
    return f"quote strings inside the dict, or give each key on its own: {dotted}"


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
