"""Cityscapes instance-level evaluation (needs the optional ``cityscapesscripts`` package).

The result files (one ``<image>_pred.txt`` listing per-instance PNG masks, their
Cityscapes label id and score) are written without the package; scoring them
uses the official evaluation code, so it is required for ``metric='cityscapes'``.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detcli.errors import DataError, DetError
from detcli.evaluation.coco_format import check_results_fit, encode_mask_results
from detcli.evaluation.report import LoggerLike, emit

# Cityscapes label ids of the 8 instance classes (cityscapesscripts.helpers.labels).
CITYSCAPES_LABEL_IDS = {"person": 24, "rider": 25, "car": 26, "truck": 27, "bus": 28, "train": 31,
                        "motorcycle": 32, "bicycle": 33}


class MissingPackageError(DetError, ImportError):
    """An optional package a requested feature needs is not installed."""


def _require_cityscapesscripts() -> Any:
    try:
        import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval
    except ImportError as err:
        raise MissingPackageError(
            "the cityscapes metric needs the 'cityscapesscripts' package, which is not installed",
            hint="pip install cityscapesscripts (or evaluate with --eval bbox segm for COCO metrics)",
        ) from err
    return cs_eval


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
        cs_eval = _require_cityscapesscripts()
        emit("Evaluating in Cityscapes style", logger)
        _, tmp_dir = format_cityscapes_results(dataset, results, outfile_prefix)
        result_dir = outfile_prefix if tmp_dir is None else os.path.join(tmp_dir.name, "results")
        args = cs_eval.args
        args.cityscapesPath = os.path.join(dataset.img_prefix, "../..")
        args.predictionPath = os.path.abspath(result_dir)
        args.predictionWalk = None
        args.JSONOutput = False
        args.colorized = False
        args.gtInstancesFile = os.path.join(result_dir, "gtInstances.json")
        args.groundTruthSearch = os.path.join(dataset.img_prefix.replace("leftImg8bit", "gtFine"),
                                              "*/*_gtFine_instanceIds.png")
        gt_list = glob.glob(args.groundTruthSearch)
        if not gt_list:
            raise DataError(f"no Cityscapes ground truth found at {args.groundTruthSearch}",
                            hint="img_prefix must point into leftImg8bit/<split> of a Cityscapes tree")
        pred_list = [cs_eval.getPrediction(gt, args) for gt in gt_list]
        averages = cs_eval.evaluateImgLists(pred_list, gt_list, args)["averages"]
        eval_results["mAP"] = averages["allAp"]
        eval_results["AP@50"] = averages["allAp50%"]
        if tmp_dir is not None:
            tmp_dir.cleanup()
    if metrics:
        eval_results.update(evaluate_coco(dataset, results, metrics, logger, outfile_prefix, classwise,
                                          proposal_nums, iou_thrs))
    return eval_results
