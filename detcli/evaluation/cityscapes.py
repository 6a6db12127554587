"""Cityscapes instance-level evaluation (needs the optional ``cityscapesscripts`` package).

The result files (one ``<image>_pred.txt`` listing per-instance PNG masks, their
Cityscapes label id and score) are written without the package; scoring them
uses the official evaluation code, so it is required for ``metric='cityscapes'``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detcli.data.cityscapes_labels import INSTANCE_LABELS
from detcli.errors import DataError
from detcli.evaluation.cityscapes_scripts import MissingPackageError  # noqa: F401 - kept importable from here
from detcli.evaluation.coco_format import check_results_fit, encode_mask_results
from detcli.evaluation.report import LoggerLike, emit, make_table

# Cityscapes label ids of the 8 instance classes (person 24 ... bicycle 33).
CITYSCAPES_LABEL_IDS = {label.name: label.id for label in INSTANCE_LABELS}


def results_to_txt(dataset: Any, results: list, outfile_prefix: str) -> list[str]:
    """Write per-instance mask PNGs and one ``<basename>_pred.txt`` per image under ``outfile_prefix/``."""
    from pycocotools import mask as mask_util

    from detcli.visualization.image_io import write_image

    out_dir = Path(outfile_prefix)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for idx, result in enumerate(results):
        if not isinstance(result, tuple):
            raise DataError("cityscapes results need masks: (bbox, segm) per image",
                            hint="test an instance segmentation model (e.g. Mask R-CNN)")
        bbox_result, segm_result = result
        mask_scores = None
        if isinstance(segm_result, tuple):
            segm_result, mask_scores = segm_result
        segms = [s for cls in encode_mask_results(segm_result) for s in cls]
        bboxes = np.vstack([np.asarray(b).reshape(-1, 5) for b in bbox_result])
        labels = np.concatenate([np.full(len(np.asarray(b).reshape(-1, 5)), i) for i, b in enumerate(bbox_result)])
        scores = bboxes[:, 4] if mask_scores is None else np.concatenate([np.asarray(s) for s in mask_scores])
        basename = Path(dataset.data_infos[idx]["filename"]).stem
        lines = []
        for i, (label, score, rle) in enumerate(zip(labels, scores, segms)):
            name = dataset.CLASSES[int(label)]
            png = out_dir / f"{basename}_{i}_{name}.png"
            write_image(mask_util.decode(rle).astype(np.uint8), png)
            lines.append(f"{png.name} {CITYSCAPES_LABEL_IDS[name]} {float(score)}\n")
        pred_txt = out_dir / f"{basename}_pred.txt"
        pred_txt.write_text("".join(lines))
        files.append(str(pred_txt))
    return files


def format_cityscapes_results(dataset: Any, results: list, txtfile_prefix: str | None = None
                              ) -> tuple[list[str], tempfile.TemporaryDirectory | None]:
    """Cityscapes submission files (txt + png); returns ``(files, tmp_dir)`` like ``format_coco_results``."""
    check_results_fit(dataset, results)
    tmp_dir = None
    if txtfile_prefix is None:
        tmp_dir = tempfile.TemporaryDirectory()
        txtfile_prefix = os.path.join(tmp_dir.name, "results")
    return results_to_txt(dataset, results, txtfile_prefix), tmp_dir


def _official_metric(dataset: Any, results: list, logger: LoggerLike, outfile_prefix: str | None
                     ) -> dict[str, float]:
    """``mAP`` and ``AP@50`` of the official evaluation, with a per-class table sent to ``logger``."""
    from detcli.evaluation.cityscapes_scripts import (
        evaluate_instances,
        ground_truth_files,
        require_cityscapesscripts,
    )

    require_cityscapesscripts()
    emit("Evaluating in Cityscapes style", logger)
    pred_files, tmp_dir = format_cityscapes_results(dataset, results, outfile_prefix)
    try:
        with tempfile.TemporaryDirectory() as drawn:
            gt_files = ground_truth_files(dataset.img_prefix, [info["filename"] for info in dataset.data_infos],
                                          drawn)
            pred_dir = outfile_prefix if tmp_dir is None else os.path.join(tmp_dir.name, "results")
            averages = evaluate_instances(gt_files, pred_files, pred_dir)
    finally:
        if tmp_dir is not None:
            tmp_dir.cleanup()
    rows = [[name, f"{v['ap']:.3f}", f"{v['ap50%']:.3f}"] for name, v in averages["classes"].items()]
    emit(make_table(["class", "AP", "AP50"], rows, title="Cityscapes instance segmentation",
                    footer=["average", f"{averages['allAp']:.3f}", f"{averages['allAp50%']:.3f}"]), logger)
    return {"mAP": float(averages["allAp"]), "AP@50": float(averages["allAp50%"])}


def evaluate_cityscapes(dataset: Any, results: list, metric: str | Sequence[str] = "bbox",
                        logger: LoggerLike = None, outfile_prefix: str | None = None, classwise: bool = False,
                        proposal_nums: Sequence[int] = (100, 300, 1000),
                        iou_thrs: Sequence[float] | None = None) -> dict[str, Any]:
    """``'cityscapes'`` (official instance AP, keys ``mAP`` and ``AP@50``) and any COCO metric."""
    from detcli.evaluation.coco_eval import evaluate_coco

    metrics = [metric] if isinstance(metric, str) else list(metric)
    eval_results: dict[str, Any] = {}
    if "cityscapes" in metrics:
        metrics.remove("cityscapes")
        eval_results.update(_official_metric(dataset, results, logger, outfile_prefix))
    if metrics:
        eval_results.update(evaluate_coco(dataset, results, metrics, logger, outfile_prefix, classwise,
                                          proposal_nums, iou_thrs))
    return eval_results
