"""COCO result sets and COCOeval runs with pycocotools' defaults (1/10/100 detections), beyond ``evaluate``.

``dataset.evaluate`` reports mmdetection's metric keys (``bbox_mAP``... at 100/300/1000
detections); the robustness benchmark and the run report need the twelve standard
COCOeval figures (``AP`` ... ``ARl``, as ``COCOeval.summarize`` prints them) and the
per-category precision, so they run COCOeval here.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

from detcli.errors import DataError
from detcli.evaluation.coco_eval import gc_paused

COCO_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def load_detections(coco_gt: Any, detections: list[dict], iou_type: str) -> Any:
    """COCO detections of ``iou_type`` as a pycocotools result set (mask areas for ``segm``, as
    ``det test --eval segm`` takes them); the detections must be on images of ``coco_gt``."""
    if not detections:
        raise DataError(f"there are no {iou_type} detections to score",
                        hint="a model that detected nothing has no errors to break down")
    if iou_type == "segm":
        if "segmentation" not in detections[0]:
            raise DataError("segm scoring needs mask results ('segmentation' in each detection)",
                            hint="give the .segm.json of det test --format-only, or --types bbox")
        detections = [{k: v for k, v in d.items() if k != "bbox"} for d in detections]
    else:
        detections = [{k: v for k, v in d.items() if k != "segmentation"} for d in detections]
    known = set(coco_gt.getImgIds())
    stray = {d["image_id"] for d in detections} - known
    if stray:
        raise DataError(f"{len(stray)} image ids of the detections are not in the annotations (e.g. {min(stray)})",
                        hint="the results must come from testing the images of this annotation file")
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_gt.loadRes(detections)


@gc_paused()
def run_coco_eval(dataset: Any, outputs: list, tasks: Sequence[str]) -> dict[str, Any]:
    """An evaluated, accumulated and summarised COCOeval per task (``None``: no detections at all).

    ``dataset`` is COCO-style (``coco``, ``img_ids``, ``cat_ids``); ``outputs`` the 2.x results list.
    The matcher is ``det test``'s (:func:`~detcli.evaluation.cocoeval_backend.run_cocoeval`).
    """
    from detcli.evaluation.coco_eval import default_iou_thrs
    from detcli.evaluation.coco_format import check_results_fit, results_to_coco_json
    from detcli.evaluation.cocoeval_backend import run_cocoeval

    check_results_fit(dataset, outputs)
    entries = results_to_coco_json(outputs, dataset.img_ids, dataset.cat_ids)
    evals: dict[str, Any] = {}
    for task in tasks:
        if task not in entries:
            raise DataError(f"{task} figures need {task} results, which these results do not have",
                            hint="segm needs a model with a mask head; use bbox")
        evals[task] = run_cocoeval(dataset.coco, entries[task], task, img_ids=dataset.img_ids,
                                   cat_ids=dataset.cat_ids, max_dets=[1, 10, 100],
                                   iou_thrs=default_iou_thrs()).coco_eval if entries[task] else None
    return evals


def stats_of(coco_eval: Any) -> dict[str, float]:
    """The twelve summary figures of a summarised COCOeval (all 0 for ``None``: nothing detected)."""
    if coco_eval is None:
        return dict.fromkeys(COCO_STATS, 0.0)
    return {name: float(v) for name, v in zip(COCO_STATS, coco_eval.stats)}
