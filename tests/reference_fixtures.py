"""Reading the reference fixtures that mmdetection 2.28 made (``config.py``, ``model.pth``,
``state_dict_keys.txt``, ``outputs.json``, a loss batch), and matching our boxes to theirs.

Fixtures live in ``tests/fixtures/models/<name>/``; more, larger ones are read from
``$DETCLI_REFS/models`` (default ``/work/shared/refs``) when that folder exists.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

IN_REPO = Path(__file__).resolve().parent / "fixtures" / "models"
REFS = Path(os.environ.get("DETCLI_REFS", "/work/shared/refs")) / "models"


def detector_type(config: Path) -> str | None:
    """The ``type`` of the config's ``model = dict(type=...)``."""
    found = re.search(r"^model = dict\(\s*type='(\w+)'", config.read_text(), re.M)
    return found.group(1) if found else None


def fixture_dirs(detector_types: set[str] | tuple[str, ...]) -> list[Path]:
    """The fixture folders (in-repo first) whose config builds one of ``detector_types``."""
    found = []
    for root in (IN_REPO, REFS):
        if root.is_dir():
            found += [folder for folder in sorted(root.iterdir())
                      if (folder / "config.py").is_file() and detector_type(folder / "config.py") in detector_types]
    return found


def read_state_dict_keys(path: Path) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a ``state_dict_keys.txt`` (lines ``key [d0, d1, ...] dtype``)."""
    keys = {}
    for line in path.read_text().splitlines():
        name, rest = line.split(" ", 1)
        keys[name] = tuple(json.loads(rest[: rest.index("]") + 1]))
    return keys


def match_boxes(ref: np.ndarray, ours: np.ndarray) -> np.ndarray:
    """For each reference ``[x1, y1, x2, y2, score]`` row, the index of a distinct row of ours with
    IoU > 0.99 (or, for boxes of zero area, where IoU means nothing, every coordinate within
    0.01 px or 1e-5 of its size, as for YOLO's unclipped boxes 1e5 px off the image) and |score difference| < 1e-3, or -1."""
    from torchvision.ops import box_iou

    found = np.full(len(ref), -1)
    if len(ref) == 0 or len(ours) == 0:
        return found
    iou = box_iou(torch.from_numpy(np.asarray(ref[:, :4], np.float64)),
                  torch.from_numpy(np.asarray(ours[:, :4], np.float64))).numpy()
    ref_corners = np.asarray(ref[:, None, :4], np.float64)
    corner_tol = np.maximum(1e-2, 1e-5 * np.abs(ref_corners).max(-1))  # float32 rounding of far-off corners
    same_corners = np.abs(ref_corners - np.asarray(ours[None, :, :4], np.float64)).max(-1) < corner_tol
    close = ((iou > 0.99) | same_corners) & (np.abs(ref[:, None, 4] - ours[None, :, 4]) < 1e-3)
    used: set[int] = set()
    for i, row in enumerate(close):
        free = [j for j in np.flatnonzero(row) if j not in used]
        if free:
            found[i] = free[0]
            used.add(int(free[0]))
    return found


def loss_batch(path: Path) -> dict:
    """The ``forward_train`` arguments stored in a fixture's ``.npz`` batch."""
    data = np.load(path)
    metas = json.loads(str(data["img_metas"]))
    for meta in metas:
        for key in ("img_shape", "ori_shape", "pad_shape", "batch_input_shape"):
            if key in meta:
                meta[key] = tuple(meta[key])
        meta["scale_factor"] = np.asarray(meta["scale_factor"], dtype=np.float32)
    return dict(img=torch.from_numpy(data["img"].astype(np.float32)), img_metas=metas,
                gt_bboxes=[torch.from_numpy(data[f"gt_bboxes_{i}"]) for i in range(len(metas))],
                gt_labels=[torch.from_numpy(data[f"gt_labels_{i}"]).long() for i in range(len(metas))])
