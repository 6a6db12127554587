"""What ``det publish IN.pth OUT.pth`` does: a checkpoint fit to hand out (mmdetection's
``publish_model.py``).

Only the weights (as CPU tensors) and ``meta`` (CLASSES, config, versions, epoch) stay;
the optimizer state and any other training state go, and so do the EMA hook's
``ema_*`` buffers (the epoch checkpoint's weights already are the averaged ones; the
buffers would only show up as unexpected keys; ``keep_ema`` keeps them). The first 8 hex
digits of the saved file's sha256 join the name, ``OUT-1a2b3c4d.pth``, so a download can
be checked against its name. The file is complete or absent, never half written, and it
loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detcli.errors import CheckpointError

EMA_PREFIX = "ema_"


@dataclass
class Published:
    source: str
    path: str
    sha256: str
    size_before: int
    size_after: int
    removed: list[str] = field(default_factory=list)
    ema_keys_removed: int = 0


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def published_name(out_file: str, sha: str) -> str:
    """``x.pth`` -> ``x-<sha[:8]>.pth`` (a name without ``.pth`` gets it appended, as mmdetection does)."""
    stem = out_file[: -len(".pth")] if out_file.endswith(".pth") else out_file
    return f"{stem}-{sha[:8]}.pth"


def strip_training_state(checkpoint: dict[str, Any], keep_ema: bool = False) -> tuple[dict[str, Any], list[str], int]:
    """``{'meta', 'state_dict'}`` with CPU weights; also returns the removed top-level keys and EMA count."""
    from detcli.engine.checkpoint import state_dict_of, to_builtin, weights_to_cpu

    weights = state_dict_of(checkpoint)
    weights_key = next((k for k in ("state_dict", "model") if checkpoint.get(k) is weights), None)
    if weights_key is None:  # a bare state_dict
        removed: list[str] = []
    else:
        removed = [k for k in checkpoint if k not in ("meta", weights_key)]
    ema = [] if keep_ema else [k for k in weights if k.startswith(EMA_PREFIX)]
    kept = weights_to_cpu({k: v for k, v in weights.items() if k not in set(ema)})
    meta = checkpoint.get("meta", {}) if weights_key is not None else {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"the checkpoint's meta is a {type(meta).__name__}, not a dict")
    return {"meta": to_builtin(dict(meta)), "state_dict": kept}, removed, len(ema)


def publish_checkpoint(in_file: str, out_file: str, keep_ema: bool = False) -> Published:
    """Write the published copy of ``in_file`` as ``out_file`` + sha prefix; returns what was done."""
    import torch

    from detcli.atomic_write import temp_beside
    from detcli.engine.checkpoint import atomic_torch_save, load_checkpoint_file, weights_only_refusal

    checkpoint = load_checkpoint_file(in_file, map_location="cpu")
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{in_file} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    published, removed, ema_count = strip_training_state(checkpoint, keep_ema)
    if not published["state_dict"]:
        raise CheckpointError(f"{in_file} has no weights to publish")
    staging = str(temp_beside(out_file))  # the final name holds the hash of the written file
    try:
        atomic_torch_save(published, staging)
        try:  # what users will do with it: a weights-only load
            torch.load(staging, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any refusal means the same here
            what = weights_only_refusal(err) or type(err).__name__
            raise CheckpointError(f"the published copy of {in_file} would not load with weights_only=True ({what})",
                                  hint="its meta holds objects other than numbers, strings, lists and dicts") from err
        sha = sha256_of(staging)
        final = published_name(out_file, sha)
        os.replace(staging, final)
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return Published(source=in_file, path=final, sha256=sha, size_before=os.path.getsize(in_file),
                     size_after=os.path.getsize(final), removed=removed, ema_keys_removed=ema_count)


def human_size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes} B"  # pragma: no cover


def describe(p: Published) -> str:
    removed = ", ".join(p.removed) or "nothing"
    if p.ema_keys_removed:
        removed += f" and {p.ema_keys_removed} ema_* buffers"
    return "\n".join([
        p.path,
        f"size: {human_size(p.size_before)} -> {human_size(p.size_after)} (removed: {removed})",
        f"sha256: {p.sha256}",
    ])
