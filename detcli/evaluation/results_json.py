"""COCO-style detection json (what ``det test --out r.json`` writes) back into the 2.x results list.

A results ``.pkl`` is the 2.x format but a pickle; the json holds the same detections in a
format that cannot carry code, so ``det eval-metric`` takes either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detcli.errors import DataError


def _index_of(ids: Sequence[Any] | None, count: int) -> dict[int, int]:
    ids = list(ids) if ids else list(range(count))
    return {int(i): n for n, i in enumerate(ids)}


def _check_entry(entry: Any, n: int, source: str) -> None:
    if not (isinstance(entry, dict) and {"image_id", "category_id", "bbox", "score"} <= set(entry)):
        raise DataError(f"{source}: entry {n} is not a COCO detection "
                        "(a dict with image_id, category_id, bbox, score)",
                        hint="give the json that det test --out r.json wrote, or the results .pkl")
    bbox = entry["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4):
        raise DataError(f"{source}: entry {n} has bbox {bbox!r}; expected [x, y, w, h]")


def results_from_coco_json(entries: Any, dataset: Any, source: str = "results json") -> list:
    """Per-image 2.x results (per-class ``(n, 5)`` float32 arrays; ``(bbox, segm)`` when the
    entries carry ``segmentation``) for every image of ``dataset``, in dataset order."""
    if not isinstance(entries, list):
        raise DataError(f"{source} holds a {type(entries).__name__}, not a list of COCO detections",
                        hint="give the json that det test --out r.json wrote")
    num_classes = len(dataset.CLASSES or ())
    img_index = _index_of(getattr(dataset, "img_ids", None), len(dataset))
    cat_index = _index_of(getattr(dataset, "cat_ids", None), num_classes)
    with_masks = bool(entries) and all(isinstance(e, dict) and "segmentation" in e for e in entries)
    boxes: list[list[list]] = [[[] for _ in range(num_classes)] for _ in range(len(dataset))]
    masks: list[list[list]] = [[[] for _ in range(num_classes)] for _ in range(len(dataset))]
    unknown_images, unknown_cats = set(), set()
    for n, entry in enumerate(entries):
        _check_entry(entry, n, source)
        img, cat = img_index.get(int(entry["image_id"])), cat_index.get(int(entry["category_id"]))
        if img is None:
            unknown_images.add(entry["image_id"])
            continue
        if cat is None:
            unknown_cats.add(entry["category_id"])
            continue
        x, y, w, h = (float(v) for v in entry["bbox"])
        boxes[img][cat].append([x, y, x + w, y + h, float(entry["score"])])
        if with_masks:
            rle = dict(entry["segmentation"])
            if isinstance(rle.get("counts"), str):
                rle["counts"] = rle["counts"].encode()
            masks[img][cat].append(rle)
    if unknown_images:
        raise DataError(f"{source}: {len(unknown_images)} image ids are not in the test set "
                        f"(e.g. {sorted(unknown_images, key=str)[0]})",
                        hint="evaluate results against the config they were produced with")
    if unknown_cats:
        raise DataError(f"{source}: category ids {sorted(unknown_cats, key=str)[:5]} are not among the "
                        f"test set's {num_classes} classes", hint="check classes= in the dataset config")
    results = []
    for per_image, per_image_masks in zip(boxes, masks):
        arrays = [np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in per_image]
        results.append((arrays, per_image_masks) if with_masks else arrays)
    return results


__all__ = ["results_from_coco_json"]
