"""Reading checkpoints: local files, ``torchvision://``, ``open-mmlab://`` and URLs.

Nothing is downloaded silently behind the user's back on an offline machine: a remote
checkpoint is looked up in the torch hub cache first, and a failed download ends in one
line that says where to put the file.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from detcli.atomic_write import atomic_open, atomic_path
from detcli.engine.checkpoint_files import check_checkpoint_bytes, resumable_candidates, write_failure
from detcli.engine.load_report import LoadReport
from detcli.errors import CheckpointError

logger = logging.getLogger("detcli")

# Published ImageNet weights that mmdetection 2.x configs refer to by short name (facts: URLs).
TORCHVISION_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-394f9c45.pth",
    "resnext50_32x4d": "https://download.pytorch.org/models/resnext50_32x4d-7cdf4587.pth",
    "resnext101_32x8d": "https://download.pytorch.org/models/resnext101_32x8d-8ba56ff5.pth",
    "wide_resnet50_2": "https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth",
    "wide_resnet101_2": "https://download.pytorch.org/models/wide_resnet101_2-32ee1156.pth",
}
OPEN_MMLAB_URLS = {
    "detectron/resnet50_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet50_caffe-788b5fa3.pth",
    "detectron2/resnet50_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet50_msra-5891d200.pth",
    "detectron/resnet101_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet101_caffe-3ad79236.pth",
    "detectron2/resnet101_caffe": "https://download.openmmlab.com/pretrain/third_party/resnet101_msra-6cc46731.pth",
    "detectron2/resnext101_32x8d": "https://download.openmmlab.com/pretrain/third_party/resnext101_32x8d-1516f1aa.pth",
    "resnext101_32x4d": "https://download.openmmlab.com/pretrain/third_party/resnext101_32x4d-a5af3160.pth",
    "detectron/resnet50_gn": "https://download.openmmlab.com/pretrain/third_party/resnet50_gn-9186a21c.pth",
    "detectron/resnet101_gn": "https://download.openmmlab.com/pretrain/third_party/resnet101_gn-cac0ab98.pth",
    "regnetx_400mf": "https://download.openmmlab.com/pretrain/third_party/regnetx_400mf-a5b10d96.pth",
    "regnetx_800mf": "https://download.openmmlab.com/pretrain/third_party/regnetx_800mf-1f4be4c7.pth",
    "regnetx_1.6gf": "https://download.openmmlab.com/pretrain/third_party/regnetx_1.6gf-5791c176.pth",
    "regnetx_3.2gf": "https://download.openmmlab.com/pretrain/third_party/regnetx_3.2gf-c2599b0f.pth",
    "regnetx_4.0gf": "https://download.openmmlab.com/pretrain/third_party/regnetx_4.0gf-a88f671e.pth",
    "regnetx_6.4gf": "https://download.openmmlab.com/pretrain/third_party/regnetx_6.4gf-006af45d.pth",
    "regnetx_8.0gf": "https://download.openmmlab.com/pretrain/third_party/regnetx_8.0gf-3c68abe7.pth",
    "regnetx_12gf": "https://download.openmmlab.com/pretrain/third_party/regnetx_12gf-4c2a3350.pth",
}
_SCHEMES = {"torchvision://": TORCHVISION_URLS, "modelzoo://": TORCHVISION_URLS, "open-mmlab://": OPEN_MMLAB_URLS}


def checkpoint_cache_dir() -> str:
    """Where downloaded checkpoints live (the torch hub cache, as torch and mmcv use)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def resolve_url(filename: str) -> str | None:
    """The download URL behind ``filename`` (None for a local path)."""
    for scheme, table in _SCHEMES.items():
        if filename.startswith(scheme):
            name = filename[len(scheme):]
            if name not in table:
                known = ", ".join(sorted(table))
                raise CheckpointError(
                    f"unknown checkpoint name {filename!r}",
                    hint=f"known {scheme} names: {known}; or give a local path",
                )
            return table[name]
    if re.match(r"^https?://", filename):
        return filename
    return None


def _download(url: str, original: str) -> str:
    cache = checkpoint_cache_dir()
    target = os.path.join(cache, os.path.basename(url.split("?")[0]))
    if os.path.isfile(target):
        return target
    os.makedirs(cache, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, target, progress=True)
    except Exception as err:  # noqa: BLE001 - any network failure means the same to the user
        raise CheckpointError(
            f"cannot download checkpoint {original!r} ({type(err).__name__}: {err}); "
            f"this machine looks offline",
            hint=f"download {url} elsewhere and put it at {target}, or pass a local file path",
        ) from err
    return target


def locate_checkpoint(filename: str) -> str:
    """A local file path for ``filename``, downloading (or finding in the cache) remote ones."""
    url = resolve_url(filename)
    if url is not None:
        return _download(url, filename)
    path = os.path.expanduser(filename)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint file not found: {filename}")
    return path


# ``--unsafe-load`` sets this variable, so processes that ``det train --gpus N`` starts inherit the choice.
UNSAFE_LOAD_ENV = "DETCLI_UNSAFE_LOAD"


def allow_unsafe_load() -> None:
    """Let later checkpoint reads unpickle the whole file (``weights_only=False``), with a warning.

    Unpickling runs whatever code the file names: only for files from a source you trust.
    Checkpoints of mmdetection 1.x and older tools often need it (numpy or mmcv objects in meta).
    """
    import sys

    os.environ[UNSAFE_LOAD_ENV] = "1"
    print("warning: --unsafe-load: checkpoints are unpickled in full, which executes any code they carry; "
          "use it only for files you trust", file=sys.stderr)


def unsafe_load_allowed() -> bool:
    """Whether ``--unsafe-load`` (or ``DETCLI_UNSAFE_LOAD=1``) is in effect."""
    return os.environ.get(UNSAFE_LOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def weights_only_refusal(err: BaseException) -> str | None:
    """What a weights-only ``torch.load`` refused to rebuild (e.g. ``'numpy.dtype'``; ``'an object'``
    when torch does not name it), or None when ``err`` is some other failure. torch's own message
    spans several lines of advice; this is the part worth one line."""
    text = str(err)
    found = _REFUSED_GLOBAL.search(text)
    if found:
        return found.group(1)
    return "an object" if "weights_only" in text.lower() or "weights only" in text.lower() else None


def load_checkpoint_file(
    filename: str, map_location: Any = "cpu", weights_only: bool | None = None
) -> dict:
    """``torch.load`` a checkpoint; ``weights_only`` refuses arbitrary pickled objects.

    ``None`` (the default) means weights only unless :func:`allow_unsafe_load` was called.
    """
    path = locate_checkpoint(filename)
    if weights_only is None:
        weights_only = not unsafe_load_allowed()
    check_checkpoint_bytes(path, filename)
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as err:  # noqa: BLE001
        refused = weights_only_refusal(err) if weights_only else None
        if refused is not None:
            raise CheckpointError(
                f"{filename} holds pickled objects that a weights-only load refuses ({refused})",
                hint="if you trust the file, add --unsafe-load (det test, infer, webcam, train, publish, upgrade-ckpt; "
                "it executes the file's pickled code), or convert it once with "
                "'det upgrade-ckpt IN.pth OUT.pth --unsafe-load' (OUT.pth loads weights-only)",
            ) from err
        raise CheckpointError(f"cannot read checkpoint {filename}: {err}") from err


def state_dict_of(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The weights inside a checkpoint dict (mmdetection, torchvision or plain state_dict)."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"a checkpoint must be a dict, got {type(checkpoint).__name__}")
    for key in ("state_dict", "model"):
        inner = checkpoint.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
            return inner
    return checkpoint


def revise_keys(
    state_dict: dict[str, torch.Tensor], rules: Iterable[tuple[str, str]] = ((r"^module\.", ""),)
) -> OrderedDict:
    """Rename keys by regex rules (the default strips DataParallel's ``module.`` prefix)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def load_state_dict(module: nn.Module, state_dict: dict[str, torch.Tensor], strict: bool = False) -> LoadReport:
    """Copy matching weights into ``module``; keys whose shapes differ are skipped and reported.

    ``strict=True`` turns any difference into a ``CheckpointError``.
    """
    if hasattr(module, "module") and isinstance(module.module, nn.Module):  # DDP / DataParallel
        module = module.module
    own = module.state_dict()
    report = LoadReport()
    usable = OrderedDict()
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    report.missing = [k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")]
    counted = [k for k in own if not k.endswith("num_batches_tracked")]
    report.model_values = sum(own[k].numel() for k in counted)
    report.loaded_values = sum(own[k].numel() for k in counted if k in usable)
    if strict and not report.clean:
        raise CheckpointError(f"checkpoint does not fit the model ({report.counts()})",
                              hint="; ".join(line.strip() for line in str(report).splitlines()[1:]))
    module.load_state_dict(usable, strict=False)
    return report


def load_checkpoint(
    model: nn.Module,
    filename: str,
    map_location: Any = "cpu",
    strict: bool = False,
    log: logging.Logger | None = None,
    revise: Iterable[tuple[str, str]] = ((r"^module\.", ""),),
    weights_only: bool | None = None,
    min_loaded: float = 0.0,
) -> dict:
    """Load ``filename`` into ``model`` and return the whole checkpoint dict (meta included).

    What did not fit is logged in a few lines; ``min_loaded`` (a fraction of the model's
    weights) refuses a checkpoint that leaves most of the model at random values.
    """
    from detcli.engine.inference_setup import refuse_if_fused

    refuse_if_fused(model, f"load {filename}")
    checkpoint = load_checkpoint_file(filename, map_location=map_location, weights_only=weights_only)
    state_dict = revise_keys(state_dict_of(checkpoint), revise)
    report = load_state_dict(model, state_dict, strict=strict)
    if not report.clean:
        (log or logger).warning("loading %s: %s", filename, report)
    report.require_loaded(min_loaded, filename)
    return checkpoint


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------
def weights_to_cpu(state_dict: dict[str, torch.Tensor]) -> OrderedDict:
    """A copy of ``state_dict`` with every tensor on the CPU (loadable without a GPU)."""
    out = OrderedDict((k, v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state_dict.items())
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def to_builtin(value: Any) -> Any:
    """``value`` with numpy scalars/arrays turned into Python numbers/lists.

    A weights-only ``torch.load`` refuses numpy objects, and evaluation metrics are
    often numpy floats; checkpoints must stay loadable with the safe loader.
    """
    import numpy as np

    if isinstance(value, dict):
        return {k: to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_builtin(v) for v in value)
    if isinstance(value, str) and type(value) is not str:  # e.g. torch's TorchVersion
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def atomic_torch_save(obj: Any, filename: str) -> None:
    """``torch.save`` to ``filename`` whole or not at all, synced to the disk before the rename."""
    try:
        with atomic_open(filename, "wb", fsync=True) as f:
            torch.save(obj, f)
    except OSError as err:
        raise write_failure(filename, err) from err


def save_checkpoint(
    model: nn.Module,
    filename: str,
    optimizer: torch.optim.Optimizer | dict | None = None,
    meta: dict | None = None,
) -> None:
    """Write ``{'meta', 'state_dict', 'optimizer'}`` atomically (mmdetection 2.x layout).

    ``meta`` gains ``detcli_version``, ``torch_version``, ``time`` and the model's ``CLASSES``.
    """
    import time

    from detcli import __version__

    meta = dict(meta or {})
    meta.update(detcli_version=__version__, torch_version=str(torch.__version__), time=time.asctime())
    model = _unwrap(model)
    classes = getattr(model, "CLASSES", None)
    if classes is not None:
        meta["CLASSES"] = tuple(classes) if not isinstance(classes, str) else classes
    checkpoint: dict[str, Any] = {"meta": to_builtin(meta), "state_dict": weights_to_cpu(model.state_dict())}
    if isinstance(optimizer, torch.optim.Optimizer):
        checkpoint["optimizer"] = optimizer.state_dict()
    elif isinstance(optimizer, dict):
        checkpoint["optimizer"] = {name: opt.state_dict() for name, opt in optimizer.items()}
    atomic_torch_save(checkpoint, filename)


def link_latest(target: str, link: str) -> None:
    """Point ``link`` (``latest.pth``) at ``target``: a relative symlink, or a copy where links fail."""
    import shutil

    directory = os.path.dirname(os.path.abspath(link))
    rel = os.path.relpath(os.path.abspath(target), directory)
    with atomic_path(link) as tmp:
        os.unlink(tmp)  # a symlink needs the name free
        try:
            os.symlink(rel, tmp)
        except (OSError, NotImplementedError):
            shutil.copyfile(target, tmp)


def find_latest_checkpoint(path: str) -> str | None:
    """The checkpoint ``--auto-resume`` tries first: ``latest.pth``, else the newest ``epoch_N``/``iter_N``."""
    candidates = resumable_candidates(path)
    return candidates[0] if candidates else None
