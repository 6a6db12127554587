"""Text templates in config files: ``{{ fileDirname }}`` & co. and ``{{ _base_.x }}``.

Both are substituted in the file's text before it is parsed. Predefined variables become
their text. A base reference cannot be evaluated yet (the bases are merged after the file
is parsed), so it becomes a marker string that :func:`resolve_base_refs` later swaps for
the base value: a marker that is a whole value (``x = {{ _base_.x }}`` or a string that is
only the placeholder) becomes that value, whatever its type; a placeholder inside a longer
string is replaced by the value's text.
"""

from __future__ import annotations

import copy
import io
import os
import re
import tokenize
from typing import Any

from detcli.errors import ConfigError

_BASE_REF = re.compile(r"\{\{\s*_base_\.([\w.]+)\s*\}\}")
_MARKER = re.compile(r"<detcli-base-ref:([\w.]+)>")
_PREDEFINED = ("fileDirname", "fileBasename", "fileBasenameNoExtension", "fileExtname")


def marker(name: str) -> str:
    return f"<detcli-base-ref:{name}>"


def substitute_predefined_vars(text: str, filename: str) -> str:
    """Replace ``{{ fileDirname }}``, ``{{ fileBasename }}``, ``{{ fileBasenameNoExtension }}``, ``{{ fileExtname }}``."""
    basename = os.path.basename(filename)
    values = {
        "fileDirname": os.path.dirname(filename),
        "fileBasename": basename,
        "fileBasenameNoExtension": os.path.splitext(basename)[0],
        "fileExtname": os.path.splitext(filename)[1],
    }
    for name in _PREDEFINED:
        value = values[name].replace("\\", "/")
        text = re.sub(r"\{\{\s*" + name + r"\s*\}\}", lambda _m, v=value: v, text)
    return text


def mark_base_refs(text: str, file_format: str) -> tuple[str, set[str]]:
    """Turn each ``{{ _base_.x }}`` into a marker; return the new text and the names referenced."""
    matches = list(_BASE_REF.finditer(text))
    if not matches:
        return text, set()
    if file_format == ".py":
        inside = _python_string_spans(text)
        in_string = [any(a <= m.start() < b for a, b in inside) for m in matches]
    else:
        in_string = [_inside_quotes(text, m.start()) for m in matches]
    pieces, last = [], 0
    for match, quoted in zip(matches, in_string):
        pieces.append(text[last : match.start()])
        token = marker(match.group(1))
        pieces.append(token if quoted else f'"{token}"')
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces), {m.group(1) for m in matches}


def _python_string_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of the string literals in Python source (empty if it does not tokenize)."""
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    string_types = {tokenize.STRING} | {getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    spans = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in string_types:
                start = line_starts[tok.start[0] - 1] + tok.start[1]
                end = line_starts[tok.end[0] - 1] + tok.end[1]
                spans.append((start, end))
    except (tokenize.TokenError, SyntaxError, IndexError):
        return spans  # the syntax error is reported when the file is compiled
    return spans


def _inside_quotes(text: str, pos: int) -> bool:
    """Whether ``pos`` sits inside a quoted scalar on its line (json/yaml)."""
    line = text[text.rfind("\n", 0, pos) + 1 : pos]
    quote = None
    for char in line:
        if quote is None and char in "\"'":
            quote = char
        elif char == quote:
            quote = None
    return quote is not None


def resolve_base_refs(value: Any, base: dict, filename: str) -> Any:
    """Swap the markers in ``value`` (a parsed child config) for values from its merged ``base``."""
    if isinstance(value, str):
        whole = _MARKER.fullmatch(value)
        if whole:
            return copy.deepcopy(_lookup(base, whole.group(1), filename))
        if "<detcli-base-ref:" in value:
            return _MARKER.sub(
                lambda m: _as_text(_lookup(base, m.group(1), filename), m.group(1), filename), value
            )
        return value
    if isinstance(value, dict):
        resolved = type(value)()
        for key, item in value.items():
            resolved[key] = resolve_base_refs(item, base, filename)
        return resolved
    if type(value) in (list, tuple):
        return type(value)(resolve_base_refs(item, base, filename) for item in value)
    return copy.deepcopy(value)


def _lookup(base: dict, name: str, filename: str) -> Any:
    node: Any = base
    walked = "_base_"
    for part in name.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ConfigError(
                f"{filename}: '{{{{ _base_.{name} }}}}' refers to a missing value: {walked} has no '{part}'",
                hint="check the spelling against the base config files listed in _base_",
            )
        walked += f".{part}"
    return node


def _as_text(value: Any, name: str, filename: str) -> str:
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(
        f"{filename}: '{{{{ _base_.{name} }}}}' is used inside a string but is a {type(value).__name__}",
        hint="use the placeholder as a whole value (x = {{ _base_." + name + " }}) to copy non-text values",
    )
