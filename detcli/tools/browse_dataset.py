"""``det browse-dataset``: draw what the train pipeline feeds the model (boxes, labels, masks)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_SKIP = ("DefaultFormatBundle", "Normalize", "Collect")
logger = logging.getLogger("detcli")


def _strip_steps(dataset_cfg: Any, skip_type: Sequence[str]) -> None:
    """Remove the ``skip_type`` steps from every train pipeline inside ``dataset_cfg`` (in place)."""
    if isinstance(dataset_cfg, (list, tuple)):
        for part in dataset_cfg:
            _strip_steps(part, skip_type)
        return
    for key in ("dataset", "datasets"):
        if key in dataset_cfg:
            _strip_steps(dataset_cfg[key], skip_type)
    if "pipeline" in dataset_cfg:
        dataset_cfg["pipeline"] = [s for s in dataset_cfg["pipeline"] if s.get("type") not in set(skip_type)]


def _plain(value: Any) -> Any:
    """Unwrap DataContainers and turn tensors into arrays."""
    from detcli.data.data_container import DataContainer

    if isinstance(value, DataContainer):
        value = value.data
    if isinstance(value, torch.Tensor):
        value = value.numpy()
    return value


def drawable(item: Mapping[str, Any]) -> dict[str, Any]:
    """Image (uint8 BGR HxWx3), boxes, labels, masks and a name from one pipeline output,
    whichever formatting steps ran."""
    from detcli.data.pipelines.image_ops import imdenormalize

    data = {k: _plain(v) for k, v in item.items()}
    meta = data.get("img_metas") or {}
    info = {**meta, **data}
    img = np.asarray(data["img"])
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[2] not in (1, 3):  # CxHxW tensor layout
        img = img.transpose(1, 2, 0)
    norm = info.get("img_norm_cfg")
    if norm is not None and img.dtype != np.uint8 and (np.any(norm["mean"] != 0) or np.any(norm["std"] != 1)):
        img = imdenormalize(img, norm["mean"], norm["std"], to_bgr=bool(norm.get("to_rgb", False)))
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    masks = data.get("gt_masks")
    if masks is not None:
        masks = masks.to_ndarray().astype(bool) if hasattr(masks, "to_ndarray") else np.asarray(masks, bool)
        if len(masks) == 0:
            masks = None
    name = info.get("ori_filename") or info.get("filename") or "image.png"
    return dict(img=img, bboxes=np.asarray(data.get("gt_bboxes", np.zeros((0, 4))), np.float32).reshape(-1, 4),
                labels=np.asarray(data.get("gt_labels", np.zeros(0)), np.int64).reshape(-1), masks=masks,
                name=os.path.basename(str(name)))


def browse_dataset(config: str | os.PathLike, output_dir: str | os.PathLike | None = None, not_show: bool = False,
                   show_interval: float = 2.0, skip_type: Sequence[str] = DEFAULT_SKIP,
                   cfg_options: Mapping[str, Any] | None = None, progress: bool = True) -> int:
    """Run ``data.train``'s pipeline over the dataset and draw each sample.

    Images go to ``output_dir`` (file names kept) and, unless ``not_show``, to a window;
    without a display showing is skipped with a note. Returns the number of images drawn.
    """
    from detcli.apis.progress import progress_bar
    from detcli.config import load_config
    from detcli.data import build_dataset
    from detcli.errors import ConfigError
    from detcli.visualization import display_problem, imshow_det_bboxes

    cfg = load_config(config, dict(cfg_options or {}))
    if "data" not in cfg or "train" not in cfg["data"]:
        raise ConfigError(f"{config} has no data.train to browse", hint="browse-dataset shows the training set")
    train_cfg = cfg["data"]["train"]
    _strip_steps(train_cfg, skip_type)
    dataset = build_dataset(train_cfg)
    show = not not_show
    if show and (problem := display_problem()) is not None:
        print(f"note: not showing images: {problem}" + ("" if output_dir else "; use --output-dir to save them"))
        show = False
    if not show and output_dir is None:
        print("note: nothing to do without --output-dir when images are not shown")
        return 0
    out = Path(output_dir) if output_dir is not None else None
    palette = getattr(dataset, "PALETTE", None) or "random"
    count = 0
    with progress_bar(len(dataset), "browse", enabled=progress) as bar:
        for i in range(len(dataset)):
            sample = drawable(dataset[i])
            imshow_det_bboxes(sample["img"], sample["bboxes"], sample["labels"], sample["masks"],
                              class_names=dataset.CLASSES, bbox_color=palette, text_color=(200, 200, 200),
                              mask_color=palette, show=show, wait_time=show_interval,
                              out_file=None if out is None else out / sample["name"])
            count += 1
            bar.advance()
    return count
