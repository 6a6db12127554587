"""What ``det upgrade-ckpt`` does: mmdetection 1.x checkpoints to the 2.x key names and class layout.

The changes between the two layouts (the ones mmdetection 2.x's
``tools/model_converters/upgrade_model_version.py`` makes, decided here from the weights'
names and shapes rather than from the config text stored in the checkpoint):

- the heads of two-stage detectors moved under the RoI head: ``bbox_head.*``,
  ``mask_head.*`` (and ``semantic_head``, ``grid_head``, ``mask_iou_head``) become
  ``roi_head.bbox_head.*``...;
- softmax classifiers had the background class first; 2.x puts it last: the rows of
  ``fc_cls`` (and of SSD-style ``cls_convs`` / ``conv_cls`` predictors, per anchor) rotate
  by one within each group of ``num_classes`` outputs;
- class-specific box regression (``fc_reg`` with ``4 * num_classes`` outputs) and mask
  logits (``conv_logits`` with ``num_classes`` channels) lose their background outputs;
- RetinaNet checkpoints up to mmdetection 0.5.3 used plain convolutions in the head
  towers: ``cls_convs.0.weight`` becomes ``cls_convs.0.conv.weight``.

Sigmoid classifiers (RetinaNet's ``retina_cls``, RPN, FCOS) had no background output and
are left alone. Biases differ from what mmdetection's script writes, on purpose: it
rotates the biases of sigmoid classifiers (``retina_cls``; ``rpn_cls`` before 2.5) while
their weights stay, and drops the last rather than the background group of the
``fc_reg``/``conv_logits`` biases; here a bias always moves with its weight rows.
"""

from __future__ import annotations

import io
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

from detcli.errors import CheckpointError

RELOCATED_HEADS = ("bbox_head", "mask_head", "semantic_head", "grid_head", "mask_iou_head")
DEFAULT_NUM_CLASSES = 81  # COCO's 80 classes + background, as mmdetection's script assumes
_ROI_STYLE = re.compile(r"^(mask_head|bbox_head(\.\d+)?\.(fc_cls|fc_reg|shared_fcs|shared_convs|cls_fcs|reg_fcs))\.")
_PLAIN_TOWER = re.compile(r"^(bbox_head\.(?:cls_convs|reg_convs)\.\d+)\.(weight|bias)$")
_SOFTMAX_CLS = re.compile(r"(^|\.)(fc_cls|conv_cls)\.(weight|bias)$")
_SSD_CLS = re.compile(r"^bbox_head\.cls_convs\.\d+\.(weight|bias)$")
_FC_REG = re.compile(r"(^|\.)fc_reg\.(weight|bias)$")
_MASK_LOGITS = re.compile(r"(^|\.)conv_logits\.(weight|bias)$")


@dataclass
class UpgradeReport:
    """What changed (key lists name the 2.x keys)."""

    from_version: str | None
    num_classes: int
    renamed: list[tuple[str, str]] = field(default_factory=list)
    reordered: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.renamed or self.reordered or self.truncated)


def parse_version(text: Any) -> tuple[int, ...] | None:
    """``'1.0rc1+6d9e9d1'`` -> ``(1, 0)``; numbers compared as numbers (``'2.10' > '2.5'``)."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", str(text or ""))
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _move_background_last(value: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Within each group of ``num_classes`` outputs (one group per anchor), the first row goes last."""
    groups = value.reshape(-1, num_classes, *value.shape[1:])
    return torch.cat([groups[:, 1:], groups[:, :1]], dim=1).reshape(value.shape)


def _drop_background(value: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Drop the first of ``num_classes`` equal groups of outputs (the background class)."""
    groups = value.reshape(num_classes, -1, *value.shape[1:])
    return groups[1:].reshape(-1, *value.shape[1:])


def infer_num_classes(state_dict: dict[str, torch.Tensor]) -> int | None:
    """Classes (background included) of a 1.x softmax box head: the rows of ``fc_cls``, else of ``conv_logits``."""
    for pattern in (r"(^|\.)fc_cls\.weight$", r"(^|\.)conv_logits\.weight$"):
        for key, value in state_dict.items():
            if re.search(pattern, key) and isinstance(value, torch.Tensor):
                return int(value.shape[0])
    return None


def is_two_stage(state_dict: dict[str, torch.Tensor]) -> bool:
    """An RPN, a mask head or a box head made of fully connected layers means a RoI head."""
    return any(k.startswith("rpn_head.") or _ROI_STYLE.match(k) for k in state_dict)


def upgrade_state_dict(state_dict: dict[str, torch.Tensor], num_classes: int | None = None,
                       from_version: str | None = None) -> tuple[OrderedDict, UpgradeReport]:
    """The 2.x form of a 1.x ``state_dict`` (``num_classes`` counts the background; found from fc_cls if None)."""
    found = infer_num_classes(state_dict)
    if num_classes is None:
        num_classes = found or DEFAULT_NUM_CLASSES
    elif found is not None and found not in (num_classes, num_classes - 1):
        raise CheckpointError(
            f"--num-classes {num_classes} does not fit the checkpoint: its classifier has {found} outputs",
            hint=f"give --num-classes {found} (classes + background), or leave it out to use that")
    if num_classes < 2:
        raise CheckpointError(f"--num-classes must count the background too (at least 2), got {num_classes}")
    report = UpgradeReport(from_version=from_version, num_classes=num_classes)
    two_stage = is_two_stage(state_dict)
    retina = any(k.startswith("bbox_head.retina_cls.") for k in state_dict)
    ssd_like = not two_stage and not retina and any(_SSD_CLS.match(k) for k in state_dict)

    out: OrderedDict = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        if two_stage and key.split(".", 1)[0] in RELOCATED_HEADS:
            new_key = f"roi_head.{key}"
        elif retina and _PLAIN_TOWER.match(key):
            new_key = _PLAIN_TOWER.sub(r"\1.conv.\2", key)
        if new_key != key:
            report.renamed.append((key, new_key))
        if isinstance(value, torch.Tensor) and value.dim() >= 1:
            value = _upgrade_layout(new_key, value, num_classes, ssd_like, report)
        out[new_key] = value
    return out, report


def _upgrade_layout(key: str, value: torch.Tensor, num_classes: int, ssd_like: bool,
                    report: UpgradeReport) -> torch.Tensor:
    rows = value.shape[0]
    if (_SOFTMAX_CLS.search(key) or (ssd_like and _SSD_CLS.match(key))) and rows % num_classes == 0:
        report.reordered.append(key)
        return _move_background_last(value, num_classes)
    if _FC_REG.search(key) and rows == 4 * num_classes:  # class-agnostic ones have 4 rows
        report.truncated.append(key)
        return _drop_background(value, num_classes)
    if _MASK_LOGITS.search(key) and rows == num_classes:  # class-agnostic masks have 1 channel
        report.truncated.append(key)
        return _drop_background(value, num_classes)
    return value


def _layout_version(checkpoint: dict, state_dict: dict) -> tuple[str | None, bool, str | None]:
    """``(version text, already 2.x, note)`` from the meta (and the key names when the meta says nothing)."""
    meta = checkpoint.get("meta") if isinstance(checkpoint.get("meta"), dict) else {}
    if meta.get("upgraded_from"):
        return meta.get("mmdet_version"), True, "already upgraded by det upgrade-ckpt: weights kept as they are"
    version = meta.get("mmdet_version")
    parsed = parse_version(version)
    if parsed is not None:
        if parsed >= (2, 0):
            return str(version), True, f"written by mmdetection {version} (2.x layout): weights kept as they are"
        return str(version), False, None
    if "detcli_version" in meta or any(k.startswith("roi_head.") for k in state_dict):
        return None, True, "2.x layout (detcli or roi_head keys): weights kept as they are"
    return None, False, "no mmdet_version in the checkpoint's meta: treated as mmdetection 1.x"


def _weights_only_meta(meta: dict, report: UpgradeReport) -> dict:
    """``meta`` with numpy values made plain, and anything else a weights-only load refuses turned into text."""
    from detcli.engine.checkpoint import to_builtin

    safe = {}
    for key, value in to_builtin(dict(meta)).items():
        buffer = io.BytesIO()
        torch.save(value, buffer)
        buffer.seek(0)
        try:
            torch.load(buffer, weights_only=True)
            safe[key] = value
        except Exception:  # noqa: BLE001 - whatever the safe loader refuses is stored as its text
            safe[key] = repr(value)
            report.notes.append(f"meta[{key!r}] ({type(value).__name__}) stored as text")
    return safe


def check_against_config(state_dict: dict[str, torch.Tensor], config: str) -> None:
    """Refuse when ``state_dict`` does not load into ``config``'s model key for key and shape for shape."""
    from detcli.config import load_config
    from detcli.engine.checkpoint import load_state_dict
    from detcli.models import build_detector

    cfg = load_config(config, {})
    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    fit = load_state_dict(model, state_dict, strict=False)
    if not fit.clean:
        raise CheckpointError(f"the upgraded weights do not fit {config}: {fit}",
                              hint="check --num-classes and that the config is the checkpoint's architecture")


def upgrade_checkpoint(in_file: str, out_file: str, num_classes: int | None = None,
                       config: str | None = None) -> UpgradeReport:
    """Write the 2.x form of checkpoint ``in_file`` to ``out_file`` (weights-only loadable; no optimizer)."""
    from detcli import __version__
    from detcli.engine.checkpoint import atomic_torch_save, load_checkpoint_file, state_dict_of

    checkpoint = load_checkpoint_file(in_file)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{in_file} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    state_dict = state_dict_of(checkpoint)
    if not state_dict or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{in_file} has no state_dict of tensors", hint="is it a model checkpoint?")
    version, already_2x, note = _layout_version(checkpoint, state_dict)
    if already_2x:
        new_state = OrderedDict(state_dict)
        report = UpgradeReport(from_version=version, num_classes=num_classes or infer_num_classes(state_dict) or 0)
    else:
        new_state, report = upgrade_state_dict(state_dict, num_classes, version)
    if note:
        report.notes.insert(0, note)
    if config is not None:
        check_against_config(new_state, config)
    meta = dict(checkpoint.get("meta") or {}) if isinstance(checkpoint.get("meta"), dict) else {}
    if not already_2x:
        meta["upgraded_from"] = dict(mmdet_version=version, num_classes=report.num_classes)
    meta["detcli_version"] = __version__
    dropped = sorted(k for k in checkpoint if k not in ("meta", "state_dict"))
    if dropped and state_dict is not checkpoint:
        report.notes.append(f"left out: {', '.join(dropped)} (training state that no longer matches the weights)")
    output = {"meta": _weights_only_meta(meta, report), "state_dict": new_state}
    atomic_torch_save(output, out_file)
    return report


def summary_lines(report: UpgradeReport, out_file: str) -> list[str]:
    """What ``det upgrade-ckpt`` prints."""
    lines = [f"{out_file}: mmdetection {report.from_version or 'version unknown'} -> 2.x layout"]
    lines += [f"  renamed {len(report.renamed)} keys"
              + (f" (e.g. {report.renamed[0][0]} -> {report.renamed[0][1]})" if report.renamed else "")]
    if report.reordered:
        lines.append(f"  background class moved last ({report.num_classes} classes): {', '.join(report.reordered)}")
    if report.truncated:
        lines.append(f"  background outputs dropped: {', '.join(report.truncated)}")
    lines += [f"  note: {note}" for note in report.notes]
    return lines
