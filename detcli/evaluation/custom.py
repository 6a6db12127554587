"""VOC-style evaluation of middle-format datasets (``mAP`` and proposal ``recall``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detcli.evaluation.coco_format import check_results_fit
from detcli.evaluation.errors import MetricError
from detcli.evaluation.mean_ap import eval_map, print_map_summary
from detcli.evaluation.recall import eval_recalls
from detcli.evaluation.report import LoggerLike, emit

CUSTOM_METRICS = ("mAP", "recall")


def _proposals_of(result: Any) -> np.ndarray:
    """Recall takes (n, 5) proposals; per-class detections are pooled into one array."""
    if isinstance(result, tuple):
        result = result[0]
    if isinstance(result, list):
        return np.vstack([np.asarray(b, np.float32).reshape(-1, 5) for b in result]) if result \
            else np.zeros((0, 5), np.float32)
    return np.asarray(result, np.float32)


def evaluate_custom(dataset: Any, results: list, metric: str | Sequence[str] = "mAP", logger: LoggerLike = None,
                    proposal_nums: Sequence[int] = (100, 300, 1000), iou_thr: float | Sequence[float] = 0.5,
                    scale_ranges: Sequence[tuple] | None = None) -> dict[str, Any]:
    """``mAP`` (keys ``AP50``... per IoU threshold, and their mean ``mAP``) and ``recall``.

    Pascal VOC datasets (those with a ``year``) count box sizes the devkit's way
    (``x2 - x1 + 1``), and VOC2007 uses the 11-point AP; other datasets use the
    area under the precision envelope.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for m in metrics:
        if m not in CUSTOM_METRICS:
            raise MetricError(f"metric {m!r} is not supported for {type(dataset).__name__}",
                              hint=f"use {' or '.join(CUSTOM_METRICS)}")
    check_results_fit(dataset, results)
    year = getattr(dataset, "year", None)
    legacy = year is not None
    annotations = [dataset.get_ann_info(i) for i in range(len(dataset))]
    iou_thrs = [float(iou_thr)] if isinstance(iou_thr, (int, float)) else [float(t) for t in iou_thr]
    eval_results: dict[str, Any] = {}
    if "mAP" in metrics:
        ds_name: Any = "voc07" if year == 2007 else dataset.CLASSES
        mean_aps = []
        det_results = [r[0] if isinstance(r, tuple) else r for r in results]
        area_ranges = [(lo ** 2, hi ** 2) for lo, hi in scale_ranges] if scale_ranges is not None else None
        for thr in iou_thrs:
            emit(f"{'-' * 15}iou_thr: {thr}{'-' * 15}", logger)
            mean_ap, per_class = eval_map(det_results, annotations, scale_ranges=scale_ranges, iou_thr=thr,
                                          dataset=ds_name, logger="silent", use_legacy_coordinate=legacy)
            print_map_summary(mean_ap, per_class, dataset.CLASSES, area_ranges, logger=logger)
            key = f"AP{int(round(thr * 100)):02d}"
            if isinstance(mean_ap, list):  # one AP per scale range
                for i, value in enumerate(mean_ap):
                    eval_results[f"{key}_scale{i}"] = round(value, 3)
                mean_ap = float(np.mean(mean_ap))
            mean_aps.append(mean_ap)
            eval_results[key] = round(mean_ap, 3)
        eval_results = {"mAP": float(np.mean(mean_aps)), **eval_results}
    if "recall" in metrics:
        gt_bboxes = [ann["bboxes"] for ann in annotations]
        recalls = eval_recalls(gt_bboxes, [_proposals_of(r) for r in results], proposal_nums, iou_thrs,
                               logger=logger, use_legacy_coordinate=legacy)
        for i, num in enumerate(proposal_nums):
            for j, thr in enumerate(iou_thrs):
                eval_results[f"recall@{num}@{thr}"] = float(recalls[i, j])
        if recalls.shape[1] > 1:
            for i, num in enumerate(proposal_nums):
                eval_results[f"AR@{num}"] = float(recalls[i].mean())
    return eval_results
