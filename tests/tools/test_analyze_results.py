"""``det analyze-results``: per-image mAP, the best and worst images drawn with ground truth and detections."""

from __future__ import annotations

import json
import pickle

import cv2
import numpy as np
import pytest

from detcli.cli import main
from detcli.errors import ConfigError, DataError
from detcli.tools.analyze_results import build_test_set, image_map, pick_best_and_worst, run_analyze_results


def _annotation(boxes, labels):
    return dict(bboxes=np.asarray(boxes, np.float32).reshape(-1, 4), labels=np.asarray(labels, np.int64),
                bboxes_ignore=np.zeros((0, 4), np.float32), labels_ignore=np.zeros(0, np.int64))


def _result(num_classes, per_class):
    out = [np.zeros((0, 5), np.float32) for _ in range(num_classes)]
    for c, rows in per_class.items():
        out[c] = np.asarray(rows, np.float32).reshape(-1, 5)
    return out


def test_image_map_averages_ap_over_iou_0_50_to_0_95():
    ann = _annotation([[0, 0, 100, 100]], [0])
    # IoU 0.72: a hit at the thresholds 0.50, 0.55, 0.60, 0.65, 0.70 (5 of 10)
    assert image_map(_result(2, {0: [[0, 0, 100, 72, 0.9]]}), ann) == pytest.approx(0.5)
    assert image_map(_result(2, {0: [[0, 0, 100, 100, 0.9]]}), ann) == pytest.approx(1.0)
    assert image_map(_result(2, {1: [[0, 0, 100, 100, 0.9]]}), ann) == pytest.approx(0.0)  # wrong class
    # two classes present: the mean of their APs; a (bbox, segm) result is scored by its boxes
    ann2 = _annotation([[0, 0, 100, 100], [200, 200, 300, 300]], [0, 1])
    assert image_map((_result(2, {0: [[0, 0, 100, 100, 0.9]]}), [[], []]), ann2) == pytest.approx(0.5)


def test_best_and_worst_take_at_most_half_the_images():
    ranked = [(3, 0.0), (0, 0.2), (2, 0.5), (1, 0.9), (4, 1.0)]
    good, bad = pick_best_and_worst(ranked, 20)
    assert good == [(1, 0.9), (4, 1.0)] and bad == [(3, 0.0), (0, 0.2)]
    assert pick_best_and_worst(ranked, 1) == ([(4, 1.0)], [(3, 0.0)])
    with pytest.raises(ConfigError):
        pick_best_and_worst(ranked, 0)


def _hand_made_results(config, path):
    """Image 0: its ground truth as detections (mAP 1); image 1: nothing (mAP 0)."""
    dataset = build_test_set(str(config))
    num_classes = len(dataset.CLASSES)
    ann = dataset.get_ann_info(0)
    perfect = _result(num_classes, {})
    for c in set(ann["labels"].tolist()):
        boxes = ann["bboxes"][ann["labels"] == c]
        perfect[c] = np.hstack([boxes, np.full((len(boxes), 1), 0.99, np.float32)])
    path.write_bytes(pickle.dumps([perfect, _result(num_classes, {})]))
    return dataset


def test_hand_made_results_rank_and_draw(tiny_run, tmp_path):
    results = tmp_path / "r.pkl"
    dataset = _hand_made_results(tiny_run.config, results)
    out = tmp_path / "out"
    summary = run_analyze_results(str(tiny_run.config), str(results), str(out), topk=5)
    assert [(i["index"], i["mAP"]) for i in summary["images"]] == [(0, 1.0), (1, 0.0)]
    assert summary["topk"] == 1 and summary["mean_image_mAP"] == pytest.approx(0.5)
    stem0 = dataset.data_infos[0]["filename"].rsplit(".", 1)[0]
    stem1 = dataset.data_infos[1]["filename"].rsplit(".", 1)[0]
    assert sorted(p.name for p in (out / "good").iterdir()) == [f"{stem0}_1.0.png"]
    assert sorted(p.name for p in (out / "bad").iterdir()) == [f"{stem1}_0.0.png"]
    # ground truth above detections: twice the image's height, same width
    drawn = cv2.imread(str(out / "good" / f"{stem0}_1.0.png"))
    info = dataset.data_infos[0]
    assert drawn.shape == (2 * info["height"], info["width"], 3)
    # the detection half of the bad image (nothing detected) is the plain image
    plain = cv2.imread(str(tiny_run.data / "val" / dataset.data_infos[1]["filename"]))
    bad = cv2.imread(str(out / "bad" / f"{stem1}_0.0.png"))
    assert np.array_equal(bad[info["height"]:], plain)
    assert json.loads((out / "analyze_results.json").read_text())["good"][0]["image"] == f"good/{stem0}_1.0.png"


def test_cli_on_the_tiny_model_results(tiny_run, tiny_results, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze-results", str(tiny_run.config), str(tiny_results.pkl), str(out), "--topk", "3",
                 "--show-score-thr", "0.05", "--overlay-gt-pred"]) == 0
    summary = json.loads((out / "analyze_results.json").read_text())
    assert len(summary["images"]) == 2 and summary["topk"] == 1
    assert all(0.0 <= i["mAP"] <= 1.0 for i in summary["images"])
    best, worst = summary["good"][0], summary["bad"][0]
    assert best["mAP"] >= worst["mAP"] and best["index"] != worst["index"]
    drawn = cv2.imread(str(out / best["image"]))
    assert drawn.shape[:2] == (64, 64)  # overlaid: the image's own size
    assert "best images" in capsys.readouterr().out


def test_results_that_do_not_fit_are_one_line_errors(tiny_run, tmp_path):
    bad = tmp_path / "short.pkl"
    bad.write_bytes(pickle.dumps([_result(4, {})]))
    with pytest.raises(DataError, match="1 results for a dataset of 2 images"):
        run_analyze_results(str(tiny_run.config), str(bad), str(tmp_path / "o"))
    with pytest.raises(ConfigError, match="--topk"):
        run_analyze_results(str(tiny_run.config), str(bad), str(tmp_path / "o"), topk=0)
