"""Which COCOeval does the matching: faster-coco-eval's C++ one when installed, pycocotools' otherwise.

Both give the same ``stats``: faster-coco-eval computes the per-image matching and the
precision/recall accumulation in C++ (3.5-5x faster than pycocotools' Python loops on large
sets), and pycocotools' own ``summarize`` then reads its ``precision``/``recall`` arrays, so
the 12 numbers, the printed summary and mmdetection 2.x's ``maxDets`` quirks are pycocotools'.
``DETCLI_COCOEVAL=pycocotools`` (or ``faster-coco-eval``) forces one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detcli.evaluation.errors import MetricError

FASTER = "faster-coco-eval"
PYCOCOTOOLS = "pycocotools"
BACKENDS = (FASTER, PYCOCOTOOLS)
BACKEND_ENV = "DETCLI_COCOEVAL"


def cocoeval_backend(name: str | None = None) -> str:
    """``name``, else ``$DETCLI_COCOEVAL``, else faster-coco-eval when importable, else pycocotools."""
    name = name or os.environ.get(BACKEND_ENV) or None
    if name is None:
        return FASTER if importlib.util.find_spec("faster_coco_eval") is not None else PYCOCOTOOLS
    if name not in BACKENDS:
        raise MetricError(f"unknown COCO evaluation backend {name!r} (from {BACKEND_ENV} or the caller)",
                          hint=f"use one of: {', '.join(BACKENDS)}")
    if name == FASTER and importlib.util.find_spec("faster_coco_eval") is None:
        raise MetricError(f"{BACKEND_ENV}={FASTER} but faster-coco-eval is not installed",
                          hint=f"pip install faster-coco-eval, or unset {BACKEND_ENV} to use pycocotools")
    return name


@dataclass
class CocoEvalRun:
    """What one evaluation gives: pycocotools' COCOeval holding ``params``, ``eval`` and ``stats``."""

    coco_eval: Any
    summary: str
    backend: str

    @property
    def stats(self) -> np.ndarray:
        return self.coco_eval.stats


def index_predictions(coco_gt: Any, predictions: Sequence[dict], iou_type: str) -> Any:
    """The result api the matcher needs, with the per-annotation work of ``load_detections`` batched.

    pycocotools' ``loadRes`` computes each mask's area and box with one call per detection and
    draws a polygon for each box. Here the mask areas come from one call over all masks, and
    neither boxes of masks nor polygons of boxes are made: the matcher compares boxes for
    bbox and masks for segm, and reads ``area`` for the small/medium/large split.
    """
    from faster_coco_eval.core import mask as mask_util  # pycocotools' area() fails on lists over 255
    from pycocotools.coco import COCO

    anns = [dict(p, id=i, iscrowd=0) for i, p in enumerate(predictions, start=1)]
    if iou_type == "segm":
        for ann, area in zip(anns, mask_util.area([a["segmentation"] for a in anns]).tolist()):
            ann["area"] = area
    else:
        for ann in anns:
            ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    res = COCO()
    res.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": anns,
                   "categories": list(coco_gt.dataset.get("categories", []))}
    with contextlib.redirect_stdout(io.StringIO()):
        res.createIndex()
    return res


class _GroundTruthView:
    """``coco_gt`` as faster-coco-eval reads it, handing out copies of the annotations.

    The matcher stores an RLE and an ``ignore`` flag on each annotation it is given; copies
    keep those out of the dataset's own COCO index.
    """

    def __init__(self, coco: Any) -> None:
        self._coco = coco

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coco, name)

    def loadAnns(self, ids: Any = None) -> list[dict]:  # noqa: N802 - the COCO api name
        return [dict(a) for a in self._coco.loadAnns(ids)]


def run_cocoeval(coco_gt: Any, predictions: Sequence[dict], iou_type: str, *, img_ids: Sequence[int],
                 cat_ids: Sequence[int], max_dets: Sequence[int], iou_thrs: np.ndarray, use_cats: bool = True,
                 backend: str | None = None) -> CocoEvalRun:
    """Evaluate ``predictions`` (COCO result dicts) with 2.x's parameters; summary printed as pycocotools does."""
    from pycocotools.cocoeval import COCOeval

    backend = cocoeval_backend(backend)
    if backend == FASTER:
        from faster_coco_eval import COCOeval_faster

        matcher = COCOeval_faster(_GroundTruthView(coco_gt), index_predictions(coco_gt, predictions, iou_type),
                                  iou_type, print_function=lambda *_: None, rle_iou_max_workers=1)
    else:
        from detcli.evaluation.coco_summary import load_detections

        matcher = COCOeval(coco_gt, load_detections(coco_gt, list(predictions), iou_type), iou_type)
    params = matcher.params
    params.catIds = list(cat_ids)
    params.imgIds = list(img_ids)
    params.maxDets = list(max_dets)
    params.iouThrs = iou_thrs
    params.useCats = int(use_cats)
    with contextlib.redirect_stdout(io.StringIO()):
        matcher.evaluate()
        matcher.accumulate()
    if backend == FASTER:  # pycocotools' summary of the C++ precision/recall arrays
        summary_eval = COCOeval(iouType=iou_type)
        summary_eval.params, summary_eval.eval = matcher.params, matcher.eval
    else:
        summary_eval = matcher
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        summary_eval.summarize()
    return CocoEvalRun(coco_eval=summary_eval, summary=text.getvalue().rstrip(), backend=backend)
