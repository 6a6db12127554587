"""COCO error analysis (Hoiem et al., "Diagnosing Error in Object Detectors"), on pycocotools' COCOeval.

For every category, seven precision-recall curves, each allowing one more kind of error
than the one before it is forgiven:

- ``C75`` / ``C50``: plain PR at IoU 0.75 / 0.5;
- ``Loc``: at IoU 0.1, so poorly localised detections count as hits;
- ``Sim``: also ignoring confusions with other categories of the same super-category
  (their ground truth becomes "ignore" for this category);
- ``Oth``: ignoring confusions with every other category;
- ``BG``: all false positives removed (precision 1 wherever ``Oth`` found something);
- ``FN``: all errors removed (precision 1 everywhere).

The gap between two neighbouring curves is what that error costs. The numbers are
mmdetection 2.x's ``coco_error_analysis.py`` ones: 101 recall points, at most 100
detections per image, four area ranges (all, small, medium, large), and the areas under
the curves are the means of those precision points (the mean over categories for the
``allclass`` summary, categories without ground truth counting as 0). Unlike that script,
mask results are scored with their mask areas (the box is dropped when the results have
masks), as ``det test --eval segm`` does; the all-area curves are the same either way.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detcli.errors import DataError

CURVES = ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")
AREA_NAMES = ("allarea", "small", "medium", "large")
DEFAULT_AREAS = (1024.0, 9216.0, 1e10)  # small < 32**2 <= medium < 96**2 <= large
IOU_TYPES = ("bbox", "segm")


@dataclass
class ErrorAnalysis:
    """The seven curves of every category in every area range of one result type.

    ``precision``: (7, R, K, A) precision at the recall points ``recall`` (R = 101), for
    the K categories ``cat_ids`` (in ``cat_names``) and the A area ranges ``area_ranges``.
    """

    iou_type: str
    recall: np.ndarray
    precision: np.ndarray
    cat_ids: list[int]
    cat_names: list[str]
    area_ranges: list[tuple[float, float]]

    def curves(self, category: int | None = None) -> np.ndarray:
        """(7, R, A) curves of the category at index ``category``, or their mean over categories."""
        if category is None:
            return self.precision.mean(axis=2)
        return self.precision[:, :, category, :]

    def auc(self, category: int | None = None) -> np.ndarray:
        """(7, A) areas under the curves (mean precision), as the plots' legends show them."""
        if category is None:
            return self.precision.mean(axis=(1, 2))
        return self.precision[:, :, category, :].mean(axis=1)

    def table(self) -> list[dict[str, Any]]:
        """One row per (category, area range), ``allclass`` first: the seven areas under the curves."""
        rows = []
        for k, name in [(None, "allclass"), *enumerate(self.cat_names)]:
            aucs = self.auc(k)
            for a, area in enumerate(AREA_NAMES[: len(self.area_ranges)]):
                row: dict[str, Any] = {"type": self.iou_type, "category": name, "area": area}
                row.update({curve: float(aucs[c, a]) for c, curve in enumerate(CURVES)})
                rows.append(row)
        return rows


def area_ranges_from(areas: Sequence[float] | None) -> list[tuple[float, float]]:
    """``[small max, medium max, large max]`` (mmdetection's ``--areas``) -> all/small/medium/large ranges."""
    small, medium, large = (float(a) for a in (areas or DEFAULT_AREAS))
    if not 0 < small < medium < large:
        raise DataError(f"--areas must be three increasing positive numbers, got {list(areas or [])}",
                        hint="e.g. --areas 1024 9216 1e10 (COCO's 32**2, 96**2 and no upper limit)")
    return [(0.0, large), (0.0, small), (small, medium), (medium, large)]


def _quiet_coco(dataset: dict) -> Any:
    from detcli.data.datasets.coco_api import COCO

    return COCO(dataset)


def _evaluate(coco_gt: Any, coco_dt: Any, iou_type: str, iou_thrs: list[float], area_ranges: list,
              cat_ids: list[int], img_ids: list[int]) -> Any:
    """A COCOeval accumulated at 100 detections per image (``eval['precision']``: (T, R, K, A, 1))."""
    from pycocotools.cocoeval import COCOeval

    coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
    coco_eval.params.imgIds = img_ids
    coco_eval.params.catIds = cat_ids
    coco_eval.params.iouThrs = np.asarray(iou_thrs, dtype=np.float64)
    coco_eval.params.maxDets = [100]
    coco_eval.params.areaRng = [list(r) for r in area_ranges]
    coco_eval.params.areaRngLbl = list(AREA_NAMES[: len(area_ranges)])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


def _relabelled_gt(coco_gt: Any, cat_id: int, forgiven: set[int]) -> Any:
    """The ground truth with categories ``forgiven`` turned into crowd ("ignore") boxes of ``cat_id``:
    a detection of ``cat_id`` on one of them is then neither a hit nor a false positive."""
    anns = [dict(a, ignore=1, iscrowd=1, category_id=cat_id) if a["category_id"] in forgiven else a
            for a in coco_gt.dataset["annotations"]]
    return _quiet_coco({**coco_gt.dataset, "annotations": anns})


def _detections_of(coco_dt: Any, cat_id: int) -> Any:
    anns = [a for a in coco_dt.dataset["annotations"] if a["category_id"] == cat_id]
    return _quiet_coco({**coco_dt.dataset, "annotations": anns})


def _siblings(categories: dict[int, dict], cat_id: int) -> set[int]:
    """Other categories of ``cat_id``'s super-category (none when it has no super-category)."""
    sup = categories[cat_id].get("supercategory")
    if sup is None:
        return set()
    return {c for c, info in categories.items() if c != cat_id and info.get("supercategory") == sup}


def analyze_errors(coco_gt: Any, coco_dt: Any, iou_type: str = "bbox",
                   areas: Sequence[float] | None = None) -> ErrorAnalysis:
    """The seven curves of every category of ``coco_gt`` for the result set ``coco_dt``.

    ``coco_dt`` comes from :func:`load_detections`; every image of ``coco_gt`` is scored.
    Each category costs two more COCOeval runs (for Sim and Oth), each over that
    category's detections only.
    """
    if iou_type not in IOU_TYPES:
        raise DataError(f"unknown result type {iou_type!r} for the error analysis", hint="use bbox or segm")
    area_ranges = area_ranges_from(areas)
    img_ids = sorted(coco_gt.getImgIds())
    cat_ids = sorted(coco_gt.getCatIds())
    if not cat_ids:
        raise DataError("the annotations define no categories")
    categories = {c: coco_gt.cats[c] for c in cat_ids}

    first = _evaluate(coco_gt, coco_dt, iou_type, [0.75, 0.5, 0.1], area_ranges, cat_ids, img_ids)
    precision = np.zeros((len(CURVES), *first.eval["precision"].shape[1:4]), dtype=np.float64)
    precision[:3] = first.eval["precision"][..., 0]
    for k, cat_id in enumerate(cat_ids):
        own = _detections_of(coco_dt, cat_id)
        for row, forgiven in ((3, _siblings(categories, cat_id)), (4, set(cat_ids) - {cat_id})):
            gt = _relabelled_gt(coco_gt, cat_id, forgiven) if forgiven else coco_gt
            single = _evaluate(gt, own, iou_type, [0.1], area_ranges, [cat_id], img_ids)
            precision[row, :, k, :] = single.eval["precision"][0, :, 0, :, 0]
    precision[precision == -1] = 0  # no ground truth in that category/area: precision 0
    precision[5] = precision[4] > 0
    precision[6] = 1.0
    return ErrorAnalysis(iou_type, np.asarray(first.params.recThrs), precision, cat_ids, [categories[c]["name"] for c in cat_ids],
                         area_ranges)
