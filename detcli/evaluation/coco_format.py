"""Turning 2.x results into COCO result json (``<prefix>.bbox.json``, ``.segm.json``, ``.proposal.json``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from detcli.atomic_write import dump_json_atomic
from detcli.errors import DataError


def encode_mask_results(mask_results: Sequence[Sequence[Any]]) -> list[list[dict]]:
    """Per-class lists of (H, W) masks -> per-class lists of RLE dicts (one encode call per class)."""
    from pycocotools import mask as mask_util

    encoded = []
    for class_masks in mask_results:
        arrays = [m for m in class_masks if not isinstance(m, dict)]
        if not arrays:
            encoded.append(list(class_masks))
            continue
        stacked = np.stack([np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=np.uint8)
                            for m in arrays], axis=-1)
        rles = iter(mask_util.encode(np.asfortranarray(stacked)))
        encoded.append([m if isinstance(m, dict) else next(rles) for m in class_masks])
    return encoded


def _xywh(boxes: np.ndarray) -> np.ndarray:
    out = np.asarray(boxes, dtype=np.float64)[:, :4].copy()
    out[:, 2:] -= out[:, :2]
    return out


def _rle_for_json(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.decode() if isinstance(counts, bytes) else counts}


def result_kind(result: Any) -> str:
    """'segm' for (bbox, segm) tuples, 'bbox' for per-class lists, 'proposal' for a single array."""
    if isinstance(result, tuple):
        return "segm"
    if isinstance(result, list):
        return "bbox"
    if isinstance(result, np.ndarray):
        return "proposal"
    raise DataError(f"cannot read a detection result of type {type(result).__name__}",
                    hint="results must be per-class lists of (n, 5) arrays, (bbox, segm) tuples or (n, 5) proposals")


def count_detections(results: Sequence[Any]) -> int:
    """Boxes over all images and classes (proposals count as boxes): 0 means nothing was detected."""
    total = 0
    for result in results:
        if isinstance(result, tuple):
            result = result[0]
        if isinstance(result, np.ndarray):
            total += len(result.reshape(-1, result.shape[-1] if result.ndim else 1))
        elif isinstance(result, (list, tuple)):
            total += sum(len(np.asarray(boxes).reshape(-1, 5)) for boxes in result)
    return total


def results_to_coco_json(results: Sequence[Any], img_ids: Sequence[int], cat_ids: Sequence[int]) -> dict[str, list]:
    """COCO result entries per kind: {'bbox': [...], 'segm': [...]} or {'proposal': [...]}."""
    kind = result_kind(results[0])
    out: dict[str, list] = {"proposal": []} if kind == "proposal" else {"bbox": []}
    if kind == "segm":
        out["segm"] = []
    for img_id, result in zip(img_ids, results):
        img_id = int(img_id)
        if kind == "proposal":
            boxes = np.asarray(result).reshape(-1, 5)
            for xywh, score in zip(_xywh(boxes).tolist(), boxes[:, 4].tolist()):
                out["proposal"].append({"image_id": img_id, "bbox": xywh, "score": score, "category_id": 1})
            continue
        bbox_result, segm_result = result if kind == "segm" else (result, None)
        mask_scores = None
        if isinstance(segm_result, tuple):  # Mask Scoring R-CNN: (segms, mask scores)
            segm_result, mask_scores = segm_result
        if segm_result is not None:
            segm_result = encode_mask_results(segm_result)
        for label, boxes in enumerate(bbox_result):
            boxes = np.asarray(boxes).reshape(-1, 5)
            if not len(boxes):
                continue
            cat = int(cat_ids[label])
            scores = boxes[:, 4].tolist()
            xywhs = _xywh(boxes).tolist()
            out["bbox"].extend({"image_id": img_id, "bbox": b, "score": s, "category_id": cat}
                               for b, s in zip(xywhs, scores))
            if segm_result is not None:
                segm_scores = scores if mask_scores is None else [float(s) for s in mask_scores[label]]
                out["segm"].extend(
                    {"image_id": img_id, "bbox": b, "score": s, "category_id": cat, "segmentation": _rle_for_json(r)}
                    for b, s, r in zip(xywhs, segm_scores, segm_result[label])
                )
    return out


def write_coco_json(entries: dict[str, list], outfile_prefix: str) -> dict[str, str]:
    """Write each kind to ``<prefix>.<kind>.json``; 'proposal' of a detector points at the bbox file."""
    files = {}
    for kind, items in entries.items():
        files[kind] = f"{outfile_prefix}.{kind}.json"
        dump_json_atomic(items, files[kind])
    if "bbox" in files:
        files["proposal"] = files["bbox"]
    return files


def check_results_fit(dataset: Any, results: Sequence[Any]) -> None:
    if not isinstance(results, list):
        raise DataError(f"results must be a list (one entry per image), got {type(results).__name__}")
    if len(results) != len(dataset):
        raise DataError(
            f"{len(results)} results for a dataset of {len(dataset)} images",
            hint="results must come from testing this very dataset config (same ann_file, no filtering)",
        )


def format_coco_results(dataset: Any, results: list, jsonfile_prefix: str | None = None,
                        **kwargs: Any) -> tuple[dict[str, str], tempfile.TemporaryDirectory | None]:
    """Write COCO result json files for ``dataset``; returns ``(result_files, tmp_dir)``.

    Without ``jsonfile_prefix`` the files go to a temporary directory the caller
    cleans up (``tmp_dir.cleanup()``).
    """
    check_results_fit(dataset, results)
    tmp_dir = None
    if jsonfile_prefix is None:
        tmp_dir = tempfile.TemporaryDirectory()
        jsonfile_prefix = os.path.join(tmp_dir.name, "results")
    entries = results_to_coco_json(results, dataset.img_ids, dataset.cat_ids)
    return write_coco_json(entries, str(jsonfile_prefix)), tmp_dir
