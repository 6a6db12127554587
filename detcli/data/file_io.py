"""Reading and writing annotation files (json, pickle, yaml, plain lists) with clear errors.

Pickles are read with the restricted unpickler of ``detcli.data.safe_pickle``: a data
file never runs code when it is loaded.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from detcli.atomic_write import atomic_open, dump_json_atomic
from detcli.data.safe_pickle import load_pickle
from detcli.errors import DataError

_JSON = (".json",)
_PICKLE = (".pkl", ".pickle")
_YAML = (".yaml", ".yml")


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        reason = "is a directory" if path.is_dir() else "not found"
        raise DataError(f"{what} {reason}: {path}", hint="check ann_file/data_root in the dataset config")


def load(path: str | os.PathLike, what: str = "annotation file") -> Any:
    """Load a ``.json``/``.pkl``/``.yaml`` file; a malformed one raises ``DataError`` with the reason."""
    path = Path(path)
    _require_file(path, what)
    suffix = path.suffix.lower()
    try:
        if suffix in _PICKLE:
            return load_pickle(path, what)
        text = path.read_text(encoding="utf-8")
        if suffix in _YAML:
            import yaml

            return yaml.safe_load(text)
        if suffix in _JSON or not suffix:
            return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"malformed JSON in {path}: {err.msg} at line {err.lineno} column {err.colno}") from None
    except DataError:
        raise
    except (UnicodeDecodeError, ValueError) as err:
        raise DataError(f"cannot read {what} {path}: {type(err).__name__}: {err}") from None
    except Exception as err:  # yaml errors and friends
        raise DataError(f"cannot read {what} {path}: {err}") from None
    raise DataError(f"unsupported {what} format {suffix!r}: {path}", hint="use .json, .pkl or .yaml")


def dump(obj: Any, path: str | os.PathLike, **json_kwargs: Any) -> None:
    """Write ``obj`` as json or pickle (by suffix), atomically."""
    if Path(path).suffix.lower() in _PICKLE:
        with atomic_open(path, "wb") as f:
            pickle.dump(obj, f, protocol=4)
    else:
        dump_json_atomic(obj, path, **json_kwargs)


def list_from_file(path: str | os.PathLike, prefix: str = "", offset: int = 0, max_num: int = 0,
                   what: str = "list file") -> list[str]:
    """The lines of a text file without line endings (``offset`` lines skipped, at most ``max_num``)."""
    path = Path(path)
    _require_file(path, what)
    lines = path.read_text(encoding="utf-8").splitlines()[offset:]
    if max_num > 0:
        lines = lines[:max_num]
    return [prefix + line.rstrip("\r") for line in lines]
