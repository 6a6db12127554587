"""Reading ``.pkl`` data files (results, middle-format annotations, proposals) without running code.

A pickle names the functions that rebuild its objects, and loading it calls them: a
crafted file runs whatever it names (``os.system``, ``builtins.exec``...). Results and
annotation files travel between people, so they are read with an unpickler that only
rebuilds what these formats hold: lists, tuples, dicts, sets, str/bytes, numbers, None,
and numpy arrays, dtypes and scalars of plain (non-object) dtypes. Any other name in the
file stops the load with one line that names the file and the refused name; nothing in
the file has run by then.

Files written under numpy 1.x name ``numpy.core.multiarray``; numpy 2.x writes
``numpy._core.multiarray``: both spellings map to the running numpy's functions.
"""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from detcli.errors import DataError


class UnsafePickleError(DataError):
    """A pickle that asks for something a data file never holds (and could run code)."""


def _refuse_object_dtypes(*args: Any) -> np.dtype:
    """``numpy.dtype`` for unpickling: plain dtypes only (object arrays hold arbitrary objects)."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise _Refused("numpy.dtype", f"an object dtype ({dtype})")
    return dtype


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``: how protocol-2 pickles (mmcv's default) store bytes; latin-1 only."""
    if encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode", f"encoding {encoding!r}")
    if not isinstance(text, str):
        raise _Refused("_codecs.encode", f"a {type(text).__name__} argument")
    return text.encode("latin-1")


_RECONSTRUCT = np.array(0).__reduce__()[0]  # numpy's array rebuilder, whatever its module is called
_SCALAR = np.float32(0).__reduce__()[0]
_FROMBUFFER = np.arange(2).__reduce_ex__(5)[0]

_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _refuse_object_dtypes,
}
# protocol-2 pickles name builtins "__builtin__" (empty bytes, e.g. a 0-size array's data, are bytes())
for _module in ("builtins", "__builtin__"):
    for _type in (set, frozenset, bytes, bytearray, complex, slice):
        _ALLOWED[(_module, _type.__name__)] = _type
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _SCALAR
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _FROMBUFFER


class _Refused(Exception):
    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(name)
        self.name, self.detail = name, detail


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``_ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id", repr(pid)[:40])


def _refusal(path: str | os.PathLike, err: _Refused, what: str) -> UnsafePickleError:
    detail = f" ({err.detail})" if err.detail else ""
    return UnsafePickleError(
        f"refusing to load {what} {path}: it asks for {err.name}{detail}, which no {what} holds; "
        "loading a pickle runs the functions it names, so the file was not loaded",
        hint="if it comes from someone you do not trust, delete it; a results file can be written as "
             ".json with det test --out r.json, annotations as middle-format .json",
    )


def loads(data: bytes, source: str = "<bytes>", what: str = "data file") -> Any:
    """Unpickle ``data`` with the restricted unpickler (``source`` names it in errors)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except _Refused as err:
        raise _refusal(source, err, what) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            UnicodeDecodeError, MemoryError) as err:
        # what a damaged or truncated stream raises (the allowed rebuilders reject bad arguments with
        # TypeError/ValueError); nothing of the file has run, only the allowed functions above
        raise DataError(f"cannot read {what} {source}: not a readable pickle ({type(err).__name__}: {err})",
                        hint="the file is damaged or not a pickle; write it again") from None


def load_pickle(path: str | os.PathLike, what: str = "data file") -> Any:
    """Load the ``.pkl`` at ``path`` with the restricted unpickler."""
    path = Path(path)
    return loads(path.read_bytes(), str(path), what)


__all__ = ["RestrictedUnpickler", "UnsafePickleError", "load_pickle", "loads"]
