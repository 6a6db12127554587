"""COCO-protocol evaluation (bbox, segm, proposal, proposal_fast): faster-coco-eval's matcher, pycocotools' numbers."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from detcli.evaluation.coco_format import (
    check_results_fit,
    results_to_coco_json,
    write_coco_json,
)
from detcli.evaluation.cocoeval_backend import run_cocoeval
from detcli.evaluation.errors import MetricError
from detcli.evaluation.recall import eval_recalls
from detcli.evaluation.report import LoggerLike, emit, make_table

COCO_METRICS = ("bbox", "segm", "proposal", "proposal_fast")
# positions in COCOeval.stats
COCO_METRIC_ITEMS = {
    "mAP": 0, "mAP_50": 1, "mAP_75": 2, "mAP_s": 3, "mAP_m": 4, "mAP_l": 5,
    "AR@100": 6, "AR@300": 7, "AR@1000": 8, "AR_s@1000": 9, "AR_m@1000": 10, "AR_l@1000": 11,
}
DET_ITEMS = ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]
PROPOSAL_ITEMS = ["AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000"]


def default_iou_thrs() -> np.ndarray:
    """0.50:0.05:0.95, the COCO thresholds."""
    return np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def coco_gt_boxes(coco: Any, img_ids: Sequence[int]) -> list[np.ndarray]:
    """Per image, the x1y1x2y2 boxes of non-crowd, non-ignored annotations."""
    boxes = []
    for img_id in img_ids:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        xywh = np.array([a["bbox"] for a in anns if not (a.get("ignore", False) or a.get("iscrowd", 0))],
                        dtype=np.float32).reshape(-1, 4)
        xywh[:, 2:] += xywh[:, :2]
        boxes.append(xywh)
    return boxes


def fast_eval_recall(dataset: Any, results: list, proposal_nums: Sequence[int], iou_thrs: Sequence[float],
                     logger: LoggerLike = None) -> np.ndarray:
    """Average recall over ``iou_thrs`` at each proposal count, computed directly (no COCOeval).

    Proposals are the results' boxes of every class; for ``(bbox, segm)`` results, their boxes.
    """
    proposals = [r if isinstance(r, np.ndarray) else
                 np.vstack([np.asarray(b).reshape(-1, 5) for b in (r[0] if isinstance(r, tuple) else r)])
                 for r in results]
    recalls = eval_recalls(coco_gt_boxes(dataset.coco, dataset.img_ids), proposals, proposal_nums, iou_thrs,
                           logger=logger)
    return recalls.mean(axis=1)


def per_class_ap(coco_eval: Any) -> np.ndarray:
    """(num_classes, 3): AP, AP_50, AP_75 of each category over all areas at the largest maxDets (nan: no gt)."""
    precision = coco_eval.eval["precision"]  # (iou, recall, class, area, max dets)
    iou_thrs = np.asarray(coco_eval.params.iouThrs)
    out = np.full((precision.shape[2], 3), np.nan)
    for col, sel in enumerate([slice(None), np.isclose(iou_thrs, 0.5), np.isclose(iou_thrs, 0.75)]):
        p = precision[sel, :, :, 0, -1]
        valid = p > -1
        count = valid.sum(axis=(0, 1))
        total = np.where(valid, p, 0).sum(axis=(0, 1))
        out[:, col] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def _classwise_table(coco: Any, cat_ids: Sequence[int], aps: np.ndarray, title: str):
    names = [coco.loadCats(int(c))[0]["name"] for c in cat_ids]
    rows = [[n] + ["nan" if np.isnan(v) else f"{v:.3f}" for v in ap] for n, ap in zip(names, aps)]
    return make_table(["category", "AP", "AP_50", "AP_75"], rows, title=title)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic collector off while the result and annotation dicts are made (a decorator too).

    An evaluation builds hundreds of thousands of small acyclic dicts; the collector's repeated
    passes over them were a fifth of a segm evaluation (2000 images x 100 detections: 9.0 s
    with it, 7.0 s without). Nothing cyclic is made, so nothing is left for it to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@gc_paused()
def evaluate_coco(dataset: Any, results: list, metric: str | Sequence[str] = "bbox", logger: LoggerLike = None,
                  jsonfile_prefix: str | None = None, classwise: bool = False,
                  proposal_nums: Sequence[int] = (100, 300, 1000), iou_thrs: Sequence[float] | None = None,
                  metric_items: str | Sequence[str] | None = None) -> dict[str, Any]:
    """COCO metrics of ``results`` on a COCO-style ``dataset`` (``coco``, ``img_ids``, ``cat_ids``).

    Keys as mmdetection 2.x: ``bbox_mAP``, ``bbox_mAP_50`` ... ``bbox_mAP_copypaste``,
    ``segm_*``, ``AR@100`` ... Values are rounded to 4 decimals. ``jsonfile_prefix``
    keeps the result json files; ``classwise`` prints a per-category table.
    """
    metrics = _as_list(metric)
    for m in metrics:
        if m not in COCO_METRICS:
            raise MetricError(f"metric {m!r} is not supported for COCO-style datasets",
                              hint=f"use one or more of: {', '.join(COCO_METRICS)}")
    items = _as_list(metric_items) or None
    for item in items or []:
        if item not in COCO_METRIC_ITEMS:
            raise MetricError(f"metric item {item!r} is not supported",
                              hint=f"use some of: {', '.join(COCO_METRIC_ITEMS)}")
    check_results_fit(dataset, results)
    iou_thrs = default_iou_thrs() if iou_thrs is None else np.atleast_1d(np.asarray(iou_thrs, dtype=np.float64))
    coco_gt = dataset.coco
    cat_ids = list(dataset.cat_ids)
    img_ids = list(dataset.img_ids)

    entries = results_to_coco_json(results, img_ids, cat_ids)
    if jsonfile_prefix is not None:
        write_coco_json(entries, str(jsonfile_prefix))
    if "bbox" in entries:
        entries["proposal"] = entries["bbox"]
    for m in metrics:  # every metric can be computed, before any is printed
        if m != "proposal_fast" and m not in entries:
            raise MetricError(f"metric {m!r} needs {m} results, which these results do not have",
                              hint="bbox needs detections, segm needs masks (a (bbox, segm) result per image)")

    eval_results: dict[str, Any] = {}
    for m in metrics:
        emit(f"Evaluating {m}...", logger)
        if m == "proposal_fast":
            ar = fast_eval_recall(dataset, results, proposal_nums, iou_thrs, logger="silent")
            for i, num in enumerate(proposal_nums):
                eval_results[f"AR@{num}"] = float(ar[i])
            emit("  ".join(f"AR@{num} {ar[i]:.4f}" for i, num in enumerate(proposal_nums)), logger)
            continue
        if not entries[m]:
            emit(f"no detections: the {m} results of all {len(img_ids)} images are empty, no {m} metrics", logger)
            continue
        run = run_cocoeval(coco_gt, entries[m], "bbox" if m == "proposal" else m, img_ids=img_ids,
                           cat_ids=cat_ids, max_dets=list(proposal_nums), iou_thrs=iou_thrs,
                           use_cats=m != "proposal")
        emit(run.summary, logger)
        coco_eval = run.coco_eval
        stats = coco_eval.stats
        if m == "proposal":
            for item in items or PROPOSAL_ITEMS:
                eval_results[item] = float(f"{stats[COCO_METRIC_ITEMS[item]]:.4f}")
            continue
        if classwise:
            emit(_classwise_table(coco_gt, cat_ids, per_class_ap(coco_eval), f"{m} AP per category"), logger)
        for item in items or DET_ITEMS:
            eval_results[f"{m}_{item}"] = float(f"{stats[COCO_METRIC_ITEMS[item]]:.4f}")
        ap = stats[:6]
        eval_results[f"{m}_mAP_copypaste"] = " ".join(f"{v:.4f}" for v in ap)
    return eval_results
