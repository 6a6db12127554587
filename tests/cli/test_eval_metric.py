"""``det eval-metric CONFIG RESULTS.pkl|.json``: saved results scored against hand-computed values."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

from detcli.cli import main

COCO_GT = {
    "images": [{"id": 3, "file_name": "a.png", "width": 100, "height": 80},
               {"id": 8, "file_name": "b.png", "width": 120, "height": 90}],
    "categories": [{"id": 5, "name": "cup"}, {"id": 9, "name": "pen"}],
    "annotations": [
        {"id": 1, "image_id": 3, "category_id": 5, "bbox": [10, 10, 50, 40], "area": 2000, "iscrowd": 0},
        {"id": 2, "image_id": 8, "category_id": 9, "bbox": [20, 5, 60, 60], "area": 3600, "iscrowd": 0},
        {"id": 3, "image_id": 8, "category_id": 5, "bbox": [0, 0, 25, 25], "area": 625, "iscrowd": 0},
    ],
}
COCO_CONFIG = '''
data = dict(test=dict(type='CocoDataset', classes=('cup', 'pen'), ann_file='{ann}', img_prefix='{root}/',
                      pipeline=[]))
evaluation = dict(interval=1, metric='bbox', save_best='auto')
'''


def _coco_results(shift=False):
    """Per image, per class (cup, pen): the ground truth, optionally moved right by w/5 (IoU 2/3)."""
    def box(x, y, w, h):
        dx = w / 5 if shift else 0
        return [x + dx, y, x + w + dx, y + h, 0.9]

    empty = np.zeros((0, 5), np.float32)
    return [
        [np.array([box(10, 10, 50, 40)], np.float32), empty],
        [np.array([box(0, 0, 25, 25)], np.float32), np.array([box(20, 5, 60, 60)], np.float32)],
    ]


@pytest.fixture
def coco(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps(COCO_GT))
    (tmp_path / "coco.py").write_text(COCO_CONFIG.format(ann=tmp_path / "gt.json", root=tmp_path))
    for name, shift in (("perfect", False), ("shifted", True)):
        with open(tmp_path / f"{name}.pkl", "wb") as fh:
            pickle.dump(_coco_results(shift), fh)
    return tmp_path


def _metric(out, name):
    return float(re.search(rf"{re.escape(name)}\s*│\s*(-?[0-9.]+)", out).group(1))


def test_coco_bbox(coco, capsys):
    assert main(["eval-metric", str(coco / "coco.py"), str(coco / "perfect.pkl"), "--eval", "bbox"]) == 0
    assert _metric(capsys.readouterr().out, "bbox_mAP") == 1.0
    assert main(["eval-metric", str(coco / "coco.py"), str(coco / "shifted.pkl"), "--eval", "bbox",
                 "--eval-options", "classwise=True"]) == 0
    out = capsys.readouterr().out
    assert _metric(out, "bbox_mAP") == pytest.approx(0.4) and _metric(out, "bbox_mAP_50") == 1.0
    assert "cup" in out and "pen" in out  # the per-category table


def test_coco_bbox_from_results_json(coco, capsys):
    """The COCO-style json of ``det test --out r.json`` (no pickle) scores the same."""
    def entries(shift):
        out = []
        for img_id, per_class in zip((3, 8), _coco_results(shift)):
            for cat, boxes in zip((5, 9), per_class):
                out += [{"image_id": img_id, "category_id": cat, "score": float(b[4]),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]} for b in boxes]
        return out

    for name, shift, expected in (("perfect.json", False, 1.0), ("shifted.json", True, 0.4)):
        (coco / name).write_text(json.dumps(entries(shift)))
        assert main(["eval-metric", str(coco / "coco.py"), str(coco / name), "--eval", "bbox"]) == 0
        assert _metric(capsys.readouterr().out, "bbox_mAP") == pytest.approx(expected)


def test_format_only(coco, capsys):
    prefix = coco / "out" / "res"
    assert main(["eval-metric", str(coco / "coco.py"), str(coco / "perfect.pkl"), "--format-only",
                 "--eval-options", f"jsonfile_prefix={prefix}"]) == 0
    entries = json.loads((coco / "out" / "res.bbox.json").read_text())
    assert sorted((e["image_id"], e["category_id"]) for e in entries) == [(3, 5), (8, 5), (8, 9)]
    pen = next(e for e in entries if e["category_id"] == 9)
    assert pen["bbox"] == [20.0, 5.0, 60.0, 60.0]


MIDDLE = [
    {"filename": "1.png", "width": 200, "height": 200,
     "ann": {"bboxes": [[0, 0, 10, 10], [20, 0, 30, 10]], "labels": [0, 0],
             "bboxes_ignore": [[50, 50, 60, 60]], "labels_ignore": [0]}},
    {"filename": "2.png", "width": 200, "height": 200,
     "ann": {"bboxes": [[0, 0, 10, 10]], "labels": [0], "bboxes_ignore": [], "labels_ignore": []}},
]
# the hand-checked case of tests/evaluation/test_mean_ap.py: AP = 5/9 (area), 1/3 at IoU 0.95
MIDDLE_RESULTS = [
    [np.array([[0, 0, 10, 10, 0.9], [1, 0, 11, 10, 0.8], [50, 50, 60, 60, 0.95]], np.float32)],
    [np.array([[0, 0, 10, 9, 0.7], [100, 100, 110, 110, 0.6]], np.float32)],
]


def test_voc_style_map_on_a_middle_format_set(tmp_path, capsys):
    (tmp_path / "mid.json").write_text(json.dumps(MIDDLE))
    (tmp_path / "mid.py").write_text(
        f"data = dict(test=dict(type='CustomDataset', classes=('thing',), ann_file='{tmp_path}/mid.json', "
        f"img_prefix='{tmp_path}/', pipeline=[]))\n")
    with open(tmp_path / "mid.pkl", "wb") as fh:
        pickle.dump(MIDDLE_RESULTS, fh)
    assert main(["eval-metric", str(tmp_path / "mid.py"), str(tmp_path / "mid.pkl"), "--eval", "mAP",
                 "--eval-options", "iou_thr=[0.5,0.95]"]) == 0
    out = capsys.readouterr().out
    assert _metric(out, "AP50") == pytest.approx(round(5 / 9, 3))
    assert _metric(out, "AP95") == pytest.approx(round(1 / 3, 3))
    assert _metric(out, "mAP") == pytest.approx((5 / 9 + 1 / 3) / 2, abs=1e-4)


def test_mistakes(coco, capsys):
    cases = [
        ([str(coco / "coco.py"), str(coco / "missing.pkl"), "--eval", "bbox"], "results file not found"),
        ([str(coco / "coco.py"), str(coco / "gt.json"), "--eval", "bbox"], "not a list of COCO detections"),
        ([str(coco / "coco.py"), str(coco / "perfect.pkl")], "nothing to do"),
        ([str(coco / "coco.py"), str(coco / "perfect.pkl"), "--eval", "recall"], "not supported"),
    ]
    for args, needle in cases:
        capsys.readouterr()
        assert main(["eval-metric", *args]) == 1
        err = capsys.readouterr().err
        assert needle in err.splitlines()[0] and "Traceback" not in err
