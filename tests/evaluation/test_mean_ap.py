"""VOC-style mAP and recall: hand-checked cases and a plain-loop reference of the matching rule."""

from __future__ import annotations

import numpy as np
import pytest

from detcli.errors import DataError
from detcli.evaluation import (
    MetricError,
    average_precision,
    bbox_overlaps,
    eval_map,
    eval_recalls,
    evaluate_custom,
)


def _arr(rows, width):
    return np.array(rows, np.float32).reshape(-1, width)


# Image 1: gts A, B (+ an ignored box); image 2: gt C. One class.
#   d5 .95 on the ignored box -> neither; d1 .9 on A -> TP; d2 .8 also best on A -> FP (A taken)
#   d3 .7 on C -> TP; d4 .6 nowhere -> FP.   recall 1/3 1/3 2/3 2/3, precision 1 1/2 2/3 1/2
HAND_DETS = [
    [_arr([[0, 0, 10, 10, 0.9], [1, 0, 11, 10, 0.8], [50, 50, 60, 60, 0.95]], 5)],
    [_arr([[0, 0, 10, 9, 0.7], [100, 100, 110, 110, 0.6]], 5)],
]
HAND_ANNS = [
    {"bboxes": _arr([[0, 0, 10, 10], [20, 0, 30, 10]], 4), "labels": np.array([0, 0]),
     "bboxes_ignore": _arr([[50, 50, 60, 60]], 4), "labels_ignore": np.array([0])},
    {"bboxes": _arr([[0, 0, 10, 10]], 4), "labels": np.array([0]),
     "bboxes_ignore": _arr([], 4), "labels_ignore": np.array([], np.int64)},
]


def test_hand_checked_area_ap():
    mean_ap, per_class = eval_map(HAND_DETS, HAND_ANNS, logger="silent")
    # envelope: 1 up to recall 1/3, 2/3 up to recall 2/3 -> 1/3 * 1 + 1/3 * 2/3
    assert mean_ap == pytest.approx(5 / 9, abs=1e-6)
    assert per_class[0]["num_gts"] == 3 and per_class[0]["num_dets"] == 5
    np.testing.assert_allclose(per_class[0]["recall"][-1], 2 / 3, rtol=1e-6)


def test_hand_checked_11_point_ap():
    # best precision at recall >= 0, .1, .2, .3: 1; at .4, .5, .6: 2/3; at .7 ... 1: 0
    mean_ap, _ = eval_map(HAND_DETS, HAND_ANNS, dataset="voc07", logger="silent")
    assert mean_ap == pytest.approx((4 * 1 + 3 * 2 / 3) / 11, abs=1e-6)


def test_scale_ranges_split_gts_and_dets():
    dets = [HAND_DETS[0], [_arr([[0, 0, 20, 19, 0.7], [100, 100, 110, 110, 0.6]], 5)]]
    anns = [HAND_ANNS[0], dict(HAND_ANNS[1], bboxes=_arr([[0, 0, 20, 20]], 4))]
    mean_ap, per_class = eval_map(dets, anns, scale_ranges=[(0, 15), (15, 100)], logger="silent")
    # small (area < 225): gts A, B; d1 TP, d2 FP, d4 FP, d3 matches the large C -> not counted: AP 1/2
    # large: gt C; d3 TP; d1/d2 match small gts (ignored at this scale); d4 is small -> not counted: AP 1
    assert mean_ap == pytest.approx([0.5, 1.0])
    assert per_class[0]["num_gts"].tolist() == [2, 1]


def test_legacy_coordinates_change_iou():
    a, b = _arr([[0, 0, 9, 9]], 4), _arr([[0, 0, 9, 4]], 4)
    assert bbox_overlaps(a, b)[0, 0] == pytest.approx(36 / 81)
    assert bbox_overlaps(a, b, use_legacy_coordinate=True)[0, 0] == pytest.approx(50 / 100)
    assert bbox_overlaps(a, b, mode="iof")[0, 0] == pytest.approx(36 / 81)
    assert bbox_overlaps(b, a, mode="iof")[0, 0] == pytest.approx(1.0)
    dets = [[_arr([[0, 0, 9, 4, 0.9]], 5)]]
    anns = [{"bboxes": a, "labels": np.array([0])}]
    # IoU 0.444 without, 0.5 with the +1 convention
    assert eval_map(dets, anns, logger="silent")[0] == 0.0
    assert eval_map(dets, anns, logger="silent", use_legacy_coordinate=True)[0] == pytest.approx(1.0)


def test_average_precision_modes():
    rec = np.array([0.5, 1.0])
    prec = np.array([1.0, 0.5])
    assert average_precision(rec, prec) == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert average_precision(rec, prec, "11points") == pytest.approx((6 * 1 + 5 * 0.5) / 11)
    with pytest.raises(ValueError):
        average_precision(rec, prec, "101points")


def _reference_map(dets, anns, num_classes, iou_thr):
    """The matching rule written as plain loops, independent of the vectorised code."""
    aps = []
    for c in range(num_classes):
        scored = []
        num_gts = 0
        for det, ann in zip(dets, anns):
            gts = [list(b) for b, lab in zip(ann["bboxes"], ann["labels"]) if lab == c]
            ign = [list(b) for b, lab in zip(ann["bboxes_ignore"], ann["labels_ignore"]) if lab == c]
            num_gts += len(gts)
            allg = gts + ign
            taken = [False] * len(allg)
            for box in sorted(det[c].tolist(), key=lambda r: -r[4]):
                best, best_iou = -1, -1.0
                for j, g in enumerate(allg):
                    iw = max(min(box[2], g[2]) - max(box[0], g[0]), 0)
                    ih = max(min(box[3], g[3]) - max(box[1], g[1]), 0)
                    inter = iw * ih
                    union = (box[2] - box[0]) * (box[3] - box[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
                    iou = inter / max(union, 1e-6)
                    if iou > best_iou:
                        best, best_iou = j, iou
                if best_iou >= iou_thr:
                    if best >= len(gts):
                        continue  # an ignored box
                    scored.append((box[4], 0 if taken[best] else 1))
                    taken[best] = True
                else:
                    scored.append((box[4], 0))
        if num_gts == 0:
            continue
        scored.sort(key=lambda t: -t[0])
        tp = np.cumsum([t for _, t in scored])
        fp = np.cumsum([1 - t for _, t in scored])
        rec = tp / num_gts
        prec = tp / np.maximum(tp + fp, 1e-12)
        ap = 0.0
        for i in range(len(rec)):  # area under the envelope, step by step
            prev = rec[i - 1] if i else 0.0
            ap += (rec[i] - prev) * prec[i:].max()
        aps.append(ap)
    return float(np.mean(aps))


def test_matches_plain_loop_reference_on_random_data():
    rng = np.random.RandomState(0)
    num_classes = 3
    dets, anns = [], []
    for _ in range(12):
        n, m = rng.randint(1, 6), rng.randint(0, 2)
        xy = rng.uniform(0, 100, (n + m, 2))
        boxes = np.hstack([xy, xy + rng.uniform(10, 40, (n + m, 2))]).astype(np.float32)
        labels = rng.randint(0, num_classes, n + m)
        anns.append({"bboxes": boxes[:n], "labels": labels[:n], "bboxes_ignore": boxes[n:],
                     "labels_ignore": labels[n:]})
        res = []
        for c in range(num_classes):
            src = boxes[labels == c]
            noisy = np.vstack([src + rng.normal(0, 1.5, src.shape), src + rng.normal(0, 4, src.shape)])
            fp = rng.uniform(0, 120, (rng.randint(0, 3), 4))
            fp[:, 2:] = fp[:, :2] + 15
            all_b = np.vstack([noisy, fp])
            res.append(np.hstack([all_b, rng.rand(len(all_b), 1)]).astype(np.float32))
        dets.append(res)
    for thr in (0.5, 0.75):
        ours, _ = eval_map(dets, anns, iou_thr=thr, logger="silent")
        assert ours == pytest.approx(_reference_map(dets, anns, num_classes, thr), abs=1e-5)
        assert 0.05 < ours < 0.95


def test_recall_greedy_one_to_one():
    gts = [_arr([[0, 0, 10, 10], [0, 0, 10, 12]], 4)]
    # one proposal overlapping both gts: it covers only one of them
    props = [_arr([[0, 0, 10, 11, 0.9], [50, 50, 60, 60, 0.8]], 5)]
    rec = eval_recalls(gts, props, proposal_nums=[1, 2], iou_thrs=[0.5, 0.95], logger="silent")
    np.testing.assert_allclose(rec, [[0.5, 0.0], [0.5, 0.0]])
    # ranking by score: with the far box scored highest, top-1 covers nothing
    props = [_arr([[0, 0, 10, 11, 0.1], [50, 50, 60, 60, 0.8], [0, 0, 10, 12, 0.05]], 5)]
    rec = eval_recalls(gts, props, proposal_nums=[1, 3], iou_thrs=0.9, logger="silent")
    np.testing.assert_allclose(rec[:, 0], [0.0, 1.0])


class FakeVOC:
    CLASSES = ("a", "b")

    def __init__(self, anns, year=None):
        self.anns = anns
        if year is not None:
            self.year = year

    def __len__(self):
        return len(self.anns)

    def get_ann_info(self, i):
        return self.anns[i]


def test_evaluate_custom_voc07_and_area(capsys):
    anns = [dict(a, labels=a["labels"]) for a in HAND_ANNS]
    dets = [d + [np.zeros((0, 5), np.float32)] for d in HAND_DETS]  # class 'b': no gts, no dets
    voc07 = evaluate_custom(FakeVOC(anns, year=2007), dets, "mAP", iou_thr=0.5)
    # legacy (+1) sizes keep every match of the hand case: 11-point AP
    assert voc07["mAP"] == pytest.approx(6 / 11, abs=1e-6) and voc07["AP50"] == round(6 / 11, 3)
    assert list(voc07) == ["mAP", "AP50"]
    table = capsys.readouterr().out
    assert "a" in table and "0.545" in table
    custom = evaluate_custom(FakeVOC(anns), dets, ["mAP"], iou_thr=[0.5, 0.95], logger="silent")
    # at IoU 0.95 only d1 (exactly on A) is a true positive: AP = 1/3
    assert custom["AP50"] == round(5 / 9, 3) and custom["AP95"] == round(1 / 3, 3)
    assert custom["mAP"] == pytest.approx((5 / 9 + 1 / 3) / 2, abs=1e-6)
    rec = evaluate_custom(FakeVOC(anns), dets, "recall", proposal_nums=(1, 10), iou_thr=[0.5, 0.6],
                          logger="silent")
    # 3 gts; top-1 proposal per image (the .95 box, then the .7 box) covers only C
    assert rec["recall@1@0.5"] == pytest.approx(1 / 3) and rec["recall@10@0.5"] == pytest.approx(2 / 3)
    assert rec["AR@10"] == pytest.approx(2 / 3)
    with pytest.raises(MetricError, match="bbox"):
        evaluate_custom(FakeVOC(anns), dets, "bbox")
    with pytest.raises(DataError):
        evaluate_custom(FakeVOC(anns), dets[:1], "mAP")
