"""``Config``: a loaded config file (mmcv 1.x ``Config`` API) — the dict plus where it came from."""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from detcli.atomic_write import write_text_atomic
from detcli.config.config_dict import ConfigDict
from detcli.config.custom_imports import import_modules_from_strings
from detcli.config.loading import SUPPORTED_EXTENSIONS, load_config_file
from detcli.config.merging import merge_into, nest_dotted_keys
from detcli.config.pretty import format_python
from detcli.config.serialization import to_json, to_yaml
from detcli.errors import ConfigError

RESERVED_KEYS = ("filename", "text", "pretty_text")


class Config:
    """A config: attribute/item access to its ``ConfigDict``, plus ``filename``, ``text`` and dumping.

    >>> cfg = Config(dict(model=dict(backbone=dict(depth=50))))
    >>> cfg.merge_from_dict({'model.backbone.depth': 101})
    >>> cfg.model.backbone.depth
    101
    """

    def __init__(
        self,
        cfg_dict: dict | None = None,
        cfg_text: str | None = None,
        filename: str | os.PathLike | None = None,
    ) -> None:
        if cfg_dict is None:
            cfg_dict = {}
        elif not isinstance(cfg_dict, dict):
            raise ConfigError(f"a config must be built from a dict, got {type(cfg_dict).__name__}")
        for key in cfg_dict:
            if key in RESERVED_KEYS:
                raise ConfigError(
                    f"'{key}' cannot be a top-level config key: it is reserved for Config's own attribute",
                    hint="rename that key",
                )
        filename = os.fspath(filename) if filename is not None else None
        if cfg_text:
            text = cfg_text
        elif filename and os.path.isfile(filename):
            text = Path(filename).read_text(encoding="utf-8")
        else:
            text = ""
        object.__setattr__(self, "_cfg_dict", ConfigDict(cfg_dict))
        object.__setattr__(self, "_filename", filename)
        object.__setattr__(self, "_text", text)

    # -- construction -----------------------------------------------------------
    @staticmethod
    def fromfile(
        filename: str | os.PathLike, use_predefined_variables: bool = True, import_custom_modules: bool = True
    ) -> Config:
        """Load a .py/.json/.yaml config with its ``_base_`` files, then import its ``custom_imports``."""
        filename = os.fspath(filename)
        cfg_dict, cfg_text = load_config_file(filename, use_predefined_variables)
        if import_custom_modules and cfg_dict.get("custom_imports"):
            _import_custom_modules(cfg_dict["custom_imports"], filename)
        return Config(cfg_dict, cfg_text=cfg_text, filename=filename)

    @staticmethod
    def fromstring(cfg_str: str, file_format: str) -> Config:
        """A config from text in ``file_format`` ('.py', '.json', '.yaml' or '.yml')."""
        if file_format not in SUPPORTED_EXTENSIONS:
            raise ConfigError(
                f"unsupported config format '{file_format}'",
                hint="use one of " + ", ".join(SUPPORTED_EXTENSIONS),
            )
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "config" + file_format)
            Path(path).write_text(cfg_str, encoding="utf-8")
            cfg = Config.fromfile(path)
        object.__setattr__(cfg, "_filename", None)
        object.__setattr__(cfg, "_text", cfg_str)
        return cfg

    # -- what it is -------------------------------------------------------------
    @property
    def filename(self) -> str | None:
        return self._filename

    @property
    def text(self) -> str:
        """The source text: each file (bases first) after a line with its path."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """Python source that, executed, gives this config's dict back."""
        return format_python(self._cfg_dict)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain ``dict``/``list``/``tuple`` values (a deep copy)."""
        return self._cfg_dict.to_dict()

    def __repr__(self) -> str:
        return f"Config (path: {self.filename}): {dict.__repr__(self._cfg_dict)}"

    # -- dict-like access -----------------------------------------------------
    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg_dict)

    def __contains__(self, key: object) -> bool:
        return key in self._cfg_dict

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") or name in ("_cfg_dict", "_filename", "_text"):
            raise AttributeError(name)  # not set yet (unpickling) or a protocol probe: no recursion
        return getattr(self._cfg_dict, name)

    def __getitem__(self, name: str) -> Any:
        return self._cfg_dict[name]

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cfg_dict, name, value)

    def __setitem__(self, name: str, value: Any) -> None:
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __delitem__(self, name: str) -> None:
        del self._cfg_dict[name]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._cfg_dict == other._cfg_dict
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # -- copying and pickling -----------------------------------------------------
    def __getstate__(self) -> tuple[ConfigDict, str | None, str]:
        return (self._cfg_dict, self._filename, self._text)

    def __setstate__(self, state: tuple[ConfigDict, str | None, str]) -> None:
        for name, value in zip(("_cfg_dict", "_filename", "_text"), state):
            object.__setattr__(self, name, value)

    def __copy__(self) -> Config:
        other = Config.__new__(Config)
        other.__setstate__(self.__getstate__())
        return other

    def __deepcopy__(self, memo: dict[int, Any]) -> Config:
        other = Config.__new__(Config)
        memo[id(self)] = other
        other.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return other

    # -- changing and saving ------------------------------------------------------
    def merge_from_dict(self, options: dict[str, Any], allow_list_keys: bool = True) -> None:
        """Apply overrides such as ``{'model.backbone.depth': 101, 'data.train.pipeline.2.flip_ratio': 0}``.

        Dotted keys walk into dicts and (with ``allow_list_keys``) into list items by index;
        a dict value merges into the existing dict unless it carries ``_delete_=True``,
        and replaces an existing ``None``.
        """
        merged = merge_into(nest_dotted_keys(options), self._cfg_dict, allow_list_keys=allow_list_keys,
                            replace_none=True)
        object.__setattr__(self, "_cfg_dict", ConfigDict(merged))

    def dump(self, file: str | os.PathLike | None = None) -> str | None:
        """Write the config to ``file`` (.py, .json, .yaml, .yml), or return it as text in its own format."""
        if file is None:
            kind = os.path.splitext(self.filename)[1] if self.filename else ".py"
            return self._as_text(kind if kind in SUPPORTED_EXTENSIONS else ".py")
        kind = os.path.splitext(os.fspath(file))[1]
        if kind not in SUPPORTED_EXTENSIONS:
            raise ConfigError(
                f"cannot dump a config to '{os.fspath(file)}': unknown extension '{kind}'",
                hint="dump to a .py, .json, .yaml or .yml file",
            )
        write_text_atomic(self._as_text(kind), file)
        return None

    def _as_text(self, kind: str) -> str:
        if kind == ".py":
            return self.pretty_text
        if kind == ".json":
            return to_json(self.to_dict()) + "\n"
        return to_yaml(self.to_dict())

    # mmcv 1.x exposes the merge rule as a static method; some extension code calls it.
    _merge_a_into_b = staticmethod(merge_into)


def _import_custom_modules(spec: Any, filename: str) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(
            f"custom_imports in {filename} must be a dict, got {type(spec).__name__}",
            hint="write custom_imports = dict(imports=['my_module'], allow_failed_imports=False)",
        )
    unknown = set(spec) - {"imports", "allow_failed_imports"}
    if unknown:
        raise ConfigError(
            f"custom_imports in {filename} has unknown keys: {', '.join(sorted(unknown))}",
            hint="custom_imports takes 'imports' and 'allow_failed_imports'",
        )
    # `det` runs as a console script, so the working folder (where users keep their
    # modules) is not on sys.path by itself; look there last.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    import_modules_from_strings(
        spec.get("imports"),
        allow_failed_imports=spec.get("allow_failed_imports", False),
        config_file=filename,
    )


def load_config(
    filename: str | os.PathLike, cfg_options: dict[str, Any] | None = None, import_custom_modules: bool = True
) -> Config:
    """``Config.fromfile`` then ``merge_from_dict(cfg_options)``: what every command does with its CONFIG."""
    cfg = Config.fromfile(filename, import_custom_modules=import_custom_modules)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
