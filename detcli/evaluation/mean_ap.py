"""Pascal-VOC-style mean average precision (``eval_map``), vectorised per image.

The matching rule is the one mmdetection 2.x results are reported with: each
detection (in descending score order) is compared with the ground-truth box it
overlaps most; it is a true positive if that IoU reaches ``iou_thr`` and no
higher-scoring detection took the same box first, a false positive otherwise,
and neither when that box is an ignored one (crowd / difficult / outside the
scale range). AP is the area under the precision envelope, or the VOC2007
11-point mean (``dataset='voc07'``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from detcli.evaluation.overlaps import bbox_overlaps
from detcli.evaluation.report import LoggerLike, emit, make_table

_EPS = np.finfo(np.float32).eps


def average_precision(recalls: np.ndarray, precisions: np.ndarray, mode: str = "area") -> np.ndarray | float:
    """AP from cumulative recall/precision, shape (num_dets,) or (num_scales, num_dets).

    ``mode='area'``: area under the monotone precision envelope; ``'11points'``:
    mean of the best precision at recall >= 0, 0.1, ..., 1.
    """
    single = recalls.ndim == 1
    rec = np.atleast_2d(recalls)
    prec = np.atleast_2d(precisions)
    if rec.shape != prec.shape:
        raise ValueError(f"recalls {rec.shape} and precisions {prec.shape} differ in shape")
    if mode == "area":
        zeros = np.zeros((rec.shape[0], 1), dtype=rec.dtype)
        mrec = np.hstack([zeros, rec, np.ones_like(zeros)])
        mpre = np.hstack([zeros, prec, zeros])
        mpre = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]  # precision envelope
        steps = mrec[:, 1:] != mrec[:, :-1]
        ap = np.where(steps, (mrec[:, 1:] - mrec[:, :-1]) * mpre[:, 1:], 0).sum(axis=1)
    elif mode == "11points":
        thrs = np.arange(0, 1 + 1e-3, 0.1)
        reached = rec[:, :, None] >= thrs[None, None, :]
        ap = np.where(reached, prec[:, :, None], 0).max(axis=1, initial=0).sum(axis=1) / 11
    else:
        raise ValueError(f"unknown AP mode {mode!r}; use 'area' or '11points'")
    ap = ap.astype(np.float32)
    return ap[0] if single else ap


def _box_areas(boxes: np.ndarray, extra: float) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra)


def _match(det_bboxes: np.ndarray, det_groups: np.ndarray, gt_bboxes: np.ndarray, gt_groups: np.ndarray,
           gt_ignore: np.ndarray, iou_thr: float, area_ranges: list, extra: float,
           use_legacy_coordinate: bool) -> tuple[np.ndarray, np.ndarray]:
    """tp/fp flags (num_scales, num_dets) for detections matched only against gts of their group."""
    num_dets = len(det_bboxes)
    tp = np.zeros((len(area_ranges), num_dets), dtype=np.float32)
    fp = np.zeros((len(area_ranges), num_dets), dtype=np.float32)
    if num_dets == 0:
        return tp, fp
    det_areas = _box_areas(det_bboxes, extra)
    if len(gt_bboxes):
        ious = bbox_overlaps(det_bboxes, gt_bboxes, use_legacy_coordinate=use_legacy_coordinate)
        ious[det_groups[:, None] != gt_groups[None, :]] = -1  # never match across classes
        best = ious.argmax(axis=1)
        matched = ious[np.arange(num_dets), best] >= iou_thr
        gt_areas = _box_areas(gt_bboxes, extra)
    else:
        best = np.zeros(num_dets, dtype=np.int64)
        matched = np.zeros(num_dets, dtype=bool)
        gt_areas = np.zeros(0, dtype=np.float32)
    # score order within each group; ties keep input order
    order = np.lexsort((-det_bboxes[:, 4], det_groups))
    for k, (min_area, max_area) in enumerate(area_ranges):
        if min_area is None:
            gt_skip = gt_ignore
            det_in_range = np.ones(num_dets, dtype=bool)
        else:
            gt_skip = gt_ignore | (gt_areas < min_area) | (gt_areas >= max_area)
            det_in_range = (det_areas >= min_area) & (det_areas < max_area)
        counted = matched & ~gt_skip[best] if len(gt_bboxes) else matched
        ranked = order[counted[order]]
        _, first = np.unique(best[ranked], return_index=True)  # first (highest-scoring) claim on each gt
        winners = ranked[first]
        fp[k, counted] = 1
        fp[k, winners] = 0
        tp[k, winners] = 1
        fp[k, ~matched & det_in_range] = 1
    return tp, fp


def tpfp_default(det_bboxes: np.ndarray, gt_bboxes: np.ndarray, gt_bboxes_ignore: np.ndarray | None = None,
                 iou_thr: float = 0.5, area_ranges: list | None = None, use_legacy_coordinate: bool = False,
                 **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """True/false-positive flags (num_scales, num_dets) of one image's detections of one class."""
    ignore = np.zeros((0, 4), np.float32) if gt_bboxes_ignore is None else np.asarray(gt_bboxes_ignore)
    gts = np.vstack([np.asarray(gt_bboxes, np.float32).reshape(-1, 4), ignore.reshape(-1, 4)])
    flags = np.r_[np.zeros(len(gt_bboxes), bool), np.ones(len(ignore), bool)]
    dets = np.asarray(det_bboxes, np.float32).reshape(-1, 5)
    return _match(dets, np.zeros(len(dets), np.int64), gts, np.zeros(len(gts), np.int64), flags, iou_thr,
                  area_ranges or [(None, None)], 1.0 if use_legacy_coordinate else 0.0, use_legacy_coordinate)


def _image_flags(det_result: Sequence[np.ndarray], ann: dict, iou_thr: float, area_ranges: list,
                 use_legacy_coordinate: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All classes of one image at once: (dets (n,5), det labels, tp, fp)."""
    per_class = [np.asarray(d, np.float32).reshape(-1, 5) for d in det_result]
    dets = np.concatenate(per_class, axis=0) if per_class else np.zeros((0, 5), np.float32)
    det_labels = np.repeat(np.arange(len(per_class)), [len(d) for d in per_class])
    gts = np.asarray(ann["bboxes"], np.float32).reshape(-1, 4)
    gt_labels = np.asarray(ann["labels"]).reshape(-1)
    ign_labels = ann.get("labels_ignore")
    if ign_labels is not None and ann.get("bboxes_ignore") is not None:
        ign = np.asarray(ann["bboxes_ignore"], np.float32).reshape(-1, 4)
        ign_labels = np.asarray(ign_labels).reshape(-1)
    else:  # ignore boxes without labels cannot be assigned to a class: dropped
        ign, ign_labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    all_gts = np.vstack([gts, ign])
    groups = np.r_[gt_labels, ign_labels].astype(np.int64)
    flags = np.r_[np.zeros(len(gts), bool), np.ones(len(ign), bool)]
    tp, fp = _match(dets, det_labels, all_gts, groups, flags, iou_thr, area_ranges,
                    1.0 if use_legacy_coordinate else 0.0, use_legacy_coordinate)
    return dets, det_labels, tp, fp


def eval_map(det_results: Sequence[Sequence[np.ndarray]], annotations: Sequence[dict],
             scale_ranges: Sequence[tuple] | None = None, iou_thr: float = 0.5, ioa_thr: float | None = None,
             dataset: str | Sequence[str] | None = None, logger: LoggerLike = None,
             tpfp_fn: Callable | None = None, nproc: int = 4, use_legacy_coordinate: bool = False,
             use_group_of: bool = False) -> tuple[float | list[float], list[dict]]:
    """mAP over classes of per-image, per-class detections against annotations.

    ``det_results[i][c]``: (n, 5) boxes of class ``c`` in image ``i``; ``annotations[i]``:
    ``bboxes``, ``labels`` and optionally ``bboxes_ignore``/``labels_ignore``.
    ``scale_ranges`` ((min, max) box sizes, areas min**2..max**2) gives one AP per range.
    ``dataset='voc07'`` selects the 11-point AP. ``nproc`` is accepted for
    compatibility; the vectorised matching needs no worker processes.
    Returns ``(mean_ap, per-class dicts with num_gts, num_dets, recall, precision, ap)``.
    """
    if ioa_thr is not None or use_group_of:
        raise NotImplementedError("Open Images group-of/IoA matching is not supported")
    if len(det_results) != len(annotations):
        raise ValueError(f"{len(det_results)} results but {len(annotations)} annotations")
    num_classes = len(det_results[0]) if len(det_results) else 0
    extra = 1.0 if use_legacy_coordinate else 0.0
    area_ranges = [(lo ** 2, hi ** 2) for lo, hi in scale_ranges] if scale_ranges is not None else None
    ranges = area_ranges or [(None, None)]
    num_scales = len(ranges)

    det_chunks, label_chunks, tp_chunks, fp_chunks = [], [], [], []
    if tpfp_fn is None:
        for det_result, ann in zip(det_results, annotations):
            dets, labels, tp, fp = _image_flags(det_result, ann, iou_thr, ranges, use_legacy_coordinate)
            det_chunks.append(dets), label_chunks.append(labels), tp_chunks.append(tp), fp_chunks.append(fp)
    else:  # a user-supplied per-image, per-class function
        for det_result, ann in zip(det_results, annotations):
            for c in range(num_classes):
                dets = np.asarray(det_result[c], np.float32).reshape(-1, 5)
                gts = np.asarray(ann["bboxes"], np.float32)[np.asarray(ann["labels"]) == c]
                if ann.get("labels_ignore") is not None:
                    ign = np.asarray(ann["bboxes_ignore"], np.float32)[np.asarray(ann["labels_ignore"]) == c]
                else:
                    ign = np.zeros((0, 4), np.float32)
                tp, fp = tpfp_fn(dets, gts, ign, iou_thr, area_ranges, use_legacy_coordinate)
                det_chunks.append(dets), label_chunks.append(np.full(len(dets), c))
                tp_chunks.append(np.asarray(tp).reshape(num_scales, -1))
                fp_chunks.append(np.asarray(fp).reshape(num_scales, -1))
    all_dets = np.concatenate(det_chunks) if det_chunks else np.zeros((0, 5), np.float32)
    all_labels = np.concatenate(label_chunks) if label_chunks else np.zeros(0, np.int64)
    all_tp = np.concatenate(tp_chunks, axis=1) if tp_chunks else np.zeros((num_scales, 0), np.float32)
    all_fp = np.concatenate(fp_chunks, axis=1) if fp_chunks else np.zeros((num_scales, 0), np.float32)

    gt_boxes = [np.asarray(a["bboxes"], np.float32).reshape(-1, 4) for a in annotations]
    gt_labels = np.concatenate([np.asarray(a["labels"]).reshape(-1) for a in annotations]) if annotations \
        else np.zeros(0, np.int64)
    gt_all = np.vstack(gt_boxes) if gt_boxes else np.zeros((0, 4), np.float32)
    gt_areas = _box_areas(gt_all, extra)

    mode = "11points" if dataset == "voc07" else "area"
    eval_results = []
    for c in range(num_classes):
        in_class = all_labels == c
        scores = all_dets[in_class, 4]
        order = np.argsort(-scores, kind="stable")
        tp = np.cumsum(all_tp[:, in_class][:, order], axis=1)
        fp = np.cumsum(all_fp[:, in_class][:, order], axis=1)
        cls_areas = gt_areas[gt_labels == c]
        num_gts = np.array([len(cls_areas) if lo is None else int(((cls_areas >= lo) & (cls_areas < hi)).sum())
                            for lo, hi in ranges])
        recalls = tp / np.maximum(num_gts[:, None], _EPS)
        precisions = tp / np.maximum(tp + fp, _EPS)
        if area_ranges is None:
            recalls, precisions, num_gts = recalls[0], precisions[0], int(num_gts[0])
        eval_results.append({"num_gts": num_gts, "num_dets": int(in_class.sum()), "recall": recalls,
                             "precision": precisions, "ap": average_precision(recalls, precisions, mode)})

    if area_ranges is not None:
        all_ap = np.vstack([r["ap"] for r in eval_results]) if eval_results else np.zeros((0, num_scales))
        all_gts = np.vstack([r["num_gts"] for r in eval_results]) if eval_results else np.zeros((0, num_scales))
        mean_ap: float | list[float] = [
            float(all_ap[all_gts[:, i] > 0, i].mean()) if np.any(all_gts[:, i] > 0) else 0.0
            for i in range(num_scales)
        ]
    else:
        aps = [r["ap"] for r in eval_results if r["num_gts"] > 0]
        mean_ap = float(np.mean(aps)) if aps else 0.0
    print_map_summary(mean_ap, eval_results, dataset, area_ranges, logger=logger)
    return mean_ap, eval_results


def print_map_summary(mean_ap: float | list[float], results: list[dict], dataset: Any = None,
                      scale_ranges: list | None = None, logger: LoggerLike = None) -> None:
    """A per-class table (gts, dets, recall, AP) per scale range, with the mAP as footer."""
    if logger == "silent" or not results:
        return
    from detcli.evaluation.class_names import get_classes

    num_classes = len(results)
    if dataset is None:
        names = [str(i) for i in range(num_classes)]
    elif isinstance(dataset, str):
        names = list(get_classes(dataset))
    else:
        names = list(dataset)
    means = mean_ap if isinstance(mean_ap, list) else [mean_ap]
    for s, mean in enumerate(means):
        rows = []
        for c, res in enumerate(results):
            recall = np.atleast_2d(res["recall"])
            rec = float(recall[s, -1]) if recall.size else 0.0
            gts = np.atleast_1d(res["num_gts"])[s]
            rows.append([names[c] if c < len(names) else str(c), int(gts), res["num_dets"], f"{rec:.3f}",
                         f"{float(np.atleast_1d(res['ap'])[s]):.3f}"])
        title = f"scale range {scale_ranges[s]}" if scale_ranges is not None else None
        emit(make_table(["class", "gts", "dets", "recall", "ap"], rows, title=title,
                        footer=["mAP", "", "", "", f"{mean:.3f}"]), logger)
