"""Reading one config file into a dict, with its ``_base_`` files merged underneath it."""

from __future__ import annotations

import builtins
import difflib
import os
import traceback
import types
import warnings
from typing import Any

from detcli.config.merging import merge_into
from detcli.config.serialization import parse_json, parse_yaml
from detcli.config.templating import mark_base_refs, resolve_base_refs, substitute_predefined_vars
from detcli.errors import ConfigError

BASE_KEY = "_base_"
DEPRECATION_KEY = "_deprecation_"
SUPPORTED_EXTENSIONS = (".py", ".json", ".yaml", ".yml")


def load_config_file(
    filename: str | os.PathLike, use_predefined_variables: bool = True
) -> tuple[dict[str, Any], str]:
    """The merged dict of ``filename`` and its text (its bases' texts first, each after its path)."""
    return _load(os.fspath(filename), use_predefined_variables, chain=())


def _load(filename: str, use_predefined_variables: bool, chain: tuple[str, ...]) -> tuple[dict, str]:
    filename = os.path.abspath(os.path.expanduser(filename))
    _check_readable(filename, chain)
    if filename in chain:
        cycle = " -> ".join(os.path.relpath(f) for f in (*chain[chain.index(filename) :], filename))
        raise ConfigError(
            f"config bases form a cycle: {cycle}",
            hint="remove one of these _base_ entries so that inheritance is a tree",
        )
    extension = os.path.splitext(filename)[1]

    with open(filename, encoding="utf-8") as handle:
        raw_text = handle.read()
    text = substitute_predefined_vars(raw_text, filename) if use_predefined_variables else raw_text
    text, base_refs = mark_base_refs(text, extension)
    cfg = _parse(text, filename, extension)

    if DEPRECATION_KEY in cfg:
        _warn_deprecated(filename, cfg.pop(DEPRECATION_KEY))

    full_text = f"{filename}\n{raw_text}"
    if BASE_KEY not in cfg:
        if base_refs:
            name = sorted(base_refs)[0]
            raise ConfigError(
                f"{filename} uses '{{{{ _base_.{name} }}}}' but has no _base_ files",
                hint="list the file that defines it in _base_",
            )
        return cfg, full_text

    bases = cfg.pop(BASE_KEY)
    bases = bases if isinstance(bases, list) else [bases]
    folder = os.path.dirname(filename)
    merged_bases: dict[str, Any] = {}
    owner: dict[str, str] = {}  # top-level key -> the base file that defined it
    texts = []
    for base in bases:
        if not isinstance(base, (str, os.PathLike)):
            raise ConfigError(f"{filename}: _base_ entries must be file paths, got {base!r}")
        base_file = os.path.join(folder, os.fspath(base))
        base_cfg, base_text = _load(base_file, use_predefined_variables, (*chain, filename))
        for key in base_cfg:
            if key in merged_bases:
                raise ConfigError(
                    f"duplicate key '{key}' among the bases of {filename}: "
                    f"defined in both {owner[key]} and {os.path.abspath(base_file)}",
                    hint="a key may come from one base only; move it to one of them or set it in the child config",
                )
            owner[key] = os.path.abspath(base_file)
        merged_bases.update(base_cfg)
        texts.append(base_text)

    # Resolving also gives the child fresh containers, so merging may consume its _delete_ flags.
    cfg = resolve_base_refs(cfg, merged_bases, filename)
    merged = merge_into(cfg, merged_bases)
    return merged, "\n".join([*texts, full_text])


def _check_readable(filename: str, chain: tuple[str, ...]) -> None:
    if os.path.isfile(filename):
        extension = os.path.splitext(filename)[1]
        if extension not in SUPPORTED_EXTENSIONS:
            raise ConfigError(
                f"unsupported config file type '{extension or '(none)'}': {filename}",
                hint="config files end in .py, .json, .yaml or .yml",
            )
        return
    if chain:
        raise ConfigError(
            f"base config not found: {filename} (listed in _base_ of {chain[-1]})",
            hint="_base_ paths are relative to the folder of the config that lists them",
        )
    if os.path.isdir(filename):
        raise ConfigError(f"config file is a folder, not a config file: {filename}",
                          hint="check the path (configs/<method>/<name>.py)")
    similar = _similar_configs(filename)
    hint = f"did you mean {' or '.join(similar)}?" if similar else "check the path (configs/<method>/<name>.py)"
    raise ConfigError(f"config file not found: {filename}", hint=hint)


def _similar_configs(filename: str, limit: int = 2) -> list[str]:
    """Configs under the nearest existing ``configs`` folder of ``filename`` with its name, or a close one.

    Older guides name configs by paths that moved (``configs/mask_rcnn_r50_fpn_1x_coco.py``,
    now under ``configs/mask_rcnn/``) or by 1.x names (``faster_rcnn_r50_fpn_1x.py``).
    """
    parts = os.path.normpath(filename).split(os.sep)
    if "configs" not in parts:
        return []
    root = os.sep.join(parts[: len(parts) - parts[::-1].index("configs")]) or os.sep
    if not os.path.isdir(root):
        return []
    with_bases = "_base_" in parts
    found: dict[str, list[str]] = {}
    for folder, _, files in os.walk(root):
        if not with_bases and "_base_" in os.path.relpath(folder, root).split(os.sep):
            continue  # suggest configs one can run, not the pieces they inherit
        for name in files:
            if os.path.splitext(name)[1] in SUPPORTED_EXTENSIONS:
                found.setdefault(name, []).append(_shown(os.path.join(folder, name)))
    wanted = os.path.basename(filename)
    names = [wanted] if wanted in found else difflib.get_close_matches(wanted, list(found), n=5, cutoff=0.8)
    folder = _shown(os.path.dirname(os.path.abspath(filename)))
    paths = [path for name in names for path in sorted(found[name])]
    paths.sort(key=lambda path: os.path.dirname(path) != folder)  # the typed folder first (a stable sort)
    return paths[:limit]


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is below it (as the user typed it)."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _parse(text: str, filename: str, extension: str) -> dict[str, Any]:
    if extension == ".py":
        return _run_python(text, filename)
    try:
        data = parse_json(text) if extension == ".json" else parse_yaml(text)
    except Exception as err:  # json.JSONDecodeError, yaml.YAMLError
        raise ConfigError(f"cannot parse config {filename}: {_one_line(err)}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config {filename} must hold a mapping at its top level, got a {type(data).__name__}"
        )
    return data


def _run_python(source: str, filename: str) -> dict[str, Any]:
    """Execute a .py config; its top-level names (not modules, functions or dunders) are the keys."""
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as err:
        where = f"{filename}:{err.lineno}" if err.lineno else filename
        raise ConfigError(
            f"syntax error in config {where}: {err.msg}",
            hint=f"line {err.lineno}: {(err.text or '').strip()}" if err.text else None,
        ) from err
    namespace: dict[str, Any] = {"__name__": "detcli_config", "__file__": filename, "__builtins__": builtins}
    try:
        exec(code, namespace)  # noqa: S102 - running config files is what configs are for
    except Exception as err:
        lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
        where = f"{filename}:{lines[-1]}" if lines else filename
        raise ConfigError(f"error running config {where}: {type(err).__name__}: {_one_line(err)}") from err
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("__") and not isinstance(value, (types.ModuleType, types.FunctionType))
    }


def _warn_deprecated(filename: str, info: Any) -> None:
    message = f"The config file {filename} is deprecated."
    if isinstance(info, dict) and "expected" in info:
        message += f" Use {info['expected']} instead."
    if isinstance(info, dict) and "reference" in info:
        message += f" See {info['reference']}"
    warnings.warn(message, DeprecationWarning, stacklevel=4)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
