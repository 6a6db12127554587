"""The COCO error analysis: mmdetection 2.28's numbers on committed inputs, and hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detcli.data.datasets.coco_api import COCO
from detcli.errors import DataError
from detcli.evaluation.coco_summary import load_detections
from detcli.evaluation.error_analysis import CURVES, analyze_errors, area_ranges_from

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "error_analysis"
R = 101  # COCO's recall points


def _analysis(gt: dict, dets: list[dict], iou_type: str = "bbox"):
    coco = COCO(gt)
    return analyze_errors(coco, load_detections(coco, dets, iou_type), iou_type)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_areas_under_curves_equal_mmdetection_2_28(iou_type):
    # reference.json was written by mmdetection 2.28.2's own coco_error_analysis.py
    # (tests/fixtures/error_analysis/record_reference.py drives it) on the same inputs
    reference = [r for r in json.loads((FIXTURES / "reference.json").read_text())["rows"] if r["type"] == iou_type]
    analysis = _analysis(json.loads((FIXTURES / "gt.json").read_text()),
                         json.loads((FIXTURES / f"results.{iou_type}.json").read_text()), iou_type)
    ours = {(r["category"], r["area"]): r for r in analysis.table()}
    assert len(ours) == len(reference) == 5 * 4
    for ref in reference:
        row = ours[(ref["category"], ref["area"])]
        for curve in CURVES:
            assert row[curve] == pytest.approx(ref[curve], abs=1e-12), (ref["category"], ref["area"], curve)
    # the inputs exercise every kind of error: each curve adds something somewhere
    overall = analysis.auc()[:, 0]
    assert np.all(np.diff(overall) > 0), overall


def _gt(anns, categories=None):
    categories = categories or [dict(id=1, name="a", supercategory="x"), dict(id=2, name="b", supercategory="x"),
                                dict(id=3, name="c", supercategory="y")]
    return dict(images=[dict(id=1, file_name="1.png", width=400, height=400)], categories=categories,
                annotations=[dict(id=i + 1, image_id=1, category_id=c, bbox=b, area=b[2] * b[3], iscrowd=0)
                             for i, (c, b) in enumerate(anns)])


def _det(cat, box, score):
    return dict(image_id=1, category_id=cat, bbox=box, score=score)


def test_a_confusion_with_a_sibling_class_is_forgiven_by_sim():
    # category a: one hit (score .8) below one detection on an object of sibling b (score .9),
    # and one a-object missed: precision 1/2 up to recall 1/2 until the confusion is forgiven
    gt = _gt([(1, [10, 10, 100, 100]), (2, [200, 200, 100, 100]), (1, [10, 250, 100, 100])])
    dets = [_det(1, [10, 10, 100, 100], 0.8), _det(1, [200, 200, 100, 100], 0.9)]
    a = _analysis(gt, dets).auc(0)[:, 0]  # category a, all areas
    reached = 51 / R  # recall points 0.00 .. 0.50
    assert a == pytest.approx([0.5 * reached, 0.5 * reached, 0.5 * reached, reached, reached, reached, 1.0])


def test_a_confusion_with_another_super_category_is_forgiven_only_by_oth():
    gt = _gt([(1, [10, 10, 100, 100]), (3, [200, 200, 100, 100]), (1, [10, 250, 100, 100])])
    dets = [_det(1, [10, 10, 100, 100], 0.8), _det(1, [200, 200, 100, 100], 0.9)]
    a = _analysis(gt, dets).auc(0)[:, 0]
    reached = 51 / R
    assert a == pytest.approx([0.5 * reached, 0.5 * reached, 0.5 * reached, 0.5 * reached, reached, reached, 1.0])


def test_poor_localisation_counts_at_iou_0_1_only():
    # IoU of the detection with the object: 60*100 / (100*100 + 100*100 - 6000) = 0.43
    gt = _gt([(1, [100, 100, 100, 100])])
    a = _analysis(gt, [_det(1, [140, 100, 100, 100], 0.9)]).auc(0)[:, 0]
    assert a == pytest.approx([0, 0, 1, 1, 1, 1, 1])


def test_background_false_positive_costs_until_bg():
    # a higher-scoring detection on nothing: precision 1/2 at the only recall, forgiven by BG
    gt = _gt([(1, [100, 100, 100, 100])])
    dets = [_det(1, [100, 100, 100, 100], 0.5), _det(1, [300, 300, 50, 50], 0.9)]
    a = _analysis(gt, dets).auc(0)[:, 0]
    assert a == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.5, 1, 1])


def test_category_without_ground_truth_counts_as_zero_in_allclass():
    gt = _gt([(1, [100, 100, 100, 100])])
    analysis = _analysis(gt, [_det(1, [100, 100, 100, 100], 0.9)])
    assert analysis.auc(1)[:, 0] == pytest.approx([0, 0, 0, 0, 0, 0, 1])
    # allclass: the mean over the three categories (a perfect, b and c without objects)
    assert analysis.auc()[:, 0] == pytest.approx([1 / 3] * 6 + [1.0])


def test_area_ranges_split_small_medium_large():
    # a 20x20 object (small) found, a 200x200 one (large) missed
    gt = _gt([(1, [10, 10, 20, 20]), (1, [150, 150, 200, 200])])
    analysis = _analysis(gt, [_det(1, [10, 10, 20, 20], 0.9)])
    c50 = analysis.auc(0)[CURVES.index("C50")]
    assert c50 == pytest.approx([51 / R, 1.0, 0.0, 0.0])  # all, small, medium (no objects), large


def test_missing_super_category_means_no_siblings():
    cats = [dict(id=1, name="a"), dict(id=2, name="b")]
    gt = _gt([(1, [10, 10, 100, 100]), (2, [200, 200, 100, 100])], categories=cats)
    dets = [_det(1, [10, 10, 100, 100], 0.8), _det(1, [200, 200, 100, 100], 0.9)]
    a = _analysis(gt, dets).auc(0)[:, 0]
    assert a[CURVES.index("Sim")] == pytest.approx(0.5) and a[CURVES.index("Oth")] == pytest.approx(1.0)


def test_bad_inputs_are_one_line_errors():
    coco = COCO(_gt([(1, [10, 10, 100, 100])]))
    with pytest.raises(DataError, match="no bbox detections"):
        load_detections(coco, [], "bbox")
    with pytest.raises(DataError, match="not in the annotations"):
        load_detections(coco, [dict(image_id=9, category_id=1, bbox=[0, 0, 5, 5], score=1.0)], "bbox")
    with pytest.raises(DataError, match="mask results"):
        load_detections(coco, [_det(1, [0, 0, 5, 5], 1.0)], "segm")
    with pytest.raises(DataError, match="increasing"):
        area_ranges_from([9216, 1024, 1e10])
