"""Cityscapes: submission files without the package; a clear error where the package is needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from detcli.errors import DetError
from detcli.evaluation import evaluate_cityscapes, format_cityscapes_results


class FakeCitys:
    CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
    data_infos = [{"filename": "frankfurt/frankfurt_000000_000294_leftImg8bit.png"}]
    img_prefix = "nowhere/leftImg8bit/val"

    def __len__(self):
        return 1


def _result():
    boxes = [np.zeros((0, 5), np.float32) for _ in range(8)]
    boxes[2] = np.array([[1, 1, 5, 5, 0.75]], np.float32)  # a car
    masks = [[] for _ in range(8)]
    m = np.zeros((8, 10), bool)
    m[1:5, 1:5] = True
    masks[2] = [m]
    return boxes, masks


def test_txt_and_png_files(tmp_path):
    files, tmp_dir = format_cityscapes_results(FakeCitys(), [_result()], str(tmp_path / "sub"))
    assert tmp_dir is None
    base = "frankfurt_000000_000294_leftImg8bit"
    assert files == [str(tmp_path / "sub" / f"{base}_pred.txt")]
    line = (tmp_path / "sub" / f"{base}_pred.txt").read_text().strip()
    assert line == f"{base}_0_car.png 26 0.75"  # 26: the Cityscapes label id of 'car'
    png = cv2.imread(str(tmp_path / "sub" / f"{base}_0_car.png"), cv2.IMREAD_GRAYSCALE)
    assert png.shape == (8, 10) and png.sum() == 16


@pytest.mark.skipif(importlib.util.find_spec("cityscapesscripts") is not None,
                    reason="cityscapesscripts is installed")
def test_missing_package_is_one_clear_error():
    with pytest.raises(DetError, match="cityscapesscripts") as info:
        evaluate_cityscapes(FakeCitys(), [_result()], metric="cityscapes")
    assert "pip install cityscapesscripts" in info.value.hint


# The official metric through the dataset, on a generated Cityscapes tree (needs cityscapesscripts).

def _dataset_and_perfect_results(tmp_path):
    import pycocotools.mask as mask_utils

    from detcli.data import build_dataset
    from detcli.data.synthetic import generate_cityscapes
    from detcli.tools.converters.cityscapes import convert_cityscapes

    root = tmp_path / "cityscapes"
    generate_cityscapes(root, num_train=0, num_val=3, num_test=0, width=128, height=64, seed=4)
    convert_cityscapes(root, out_dir=root / "annotations")
    ds = build_dataset(dict(type="CityscapesDataset", pipeline=[], test_mode=True,
                            ann_file=str(root / "annotations" / "instancesonly_filtered_gtFine_val.json"),
                            img_prefix=str(root / "leftImg8bit" / "val") + "/"))
    results = []
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        boxes = [np.zeros((0, 5), np.float32) for _ in range(8)]
        masks = [[] for _ in range(8)]
        for box, label, rle in zip(ann["bboxes"], ann["labels"], ann["masks"]):
            boxes[label] = np.vstack([boxes[label], np.r_[box, 0.9][None].astype(np.float32)])
            masks[label].append(mask_utils.decode(rle).astype(bool))
        results.append((boxes, masks))
    return root, ds, results


def test_official_metric_under_numpy2_scores_perfect_predictions_one(tmp_path):
    pytest.importorskip("cityscapesscripts")
    root, ds, results = _dataset_and_perfect_results(tmp_path)
    assert sum(len(b) for r in results for b in r[0]) >= 4
    metrics = ds.evaluate(results, metric=["cityscapes", "segm"], logger="silent")
    assert metrics["mAP"] == pytest.approx(1.0) and metrics["AP@50"] == pytest.approx(1.0)
    assert metrics["segm_mAP"] == pytest.approx(1.0)  # every annotation can be matched (ids start at 1)
    assert not (root / "gtInstances.json").exists() and not (tmp_path / "matches.json").exists()

    # masks moved off their objects: no prediction overlaps its instance any more
    shifted = [(boxes, [[np.roll(m, 40, axis=1) for m in cls] for cls in masks]) for boxes, masks in results]
    assert ds.evaluate(shifted, metric="cityscapes", logger="silent")["AP@50"] < 0.5

    # the instance pngs are not needed: ground truth is drawn from the polygons where they are missing
    for png in (root / "gtFine").rglob("*_instanceIds.png"):
        png.unlink()
    assert ds.evaluate(results, metric="cityscapes", logger="silent")["mAP"] == pytest.approx(1.0)


def test_official_code_exit_becomes_one_clear_error(tmp_path):
    pytest.importorskip("cityscapesscripts")
    from detcli.evaluation.cityscapes_scripts import evaluate_instances

    root, ds, _ = _dataset_and_perfect_results(tmp_path)
    gt = sorted(str(p) for p in (root / "gtFine" / "val").glob("*/*_instanceIds.png"))
    pred_dir = tmp_path / "preds"
    pred_dir.mkdir()
    preds = []
    for path in gt:
        pred = pred_dir / (Path(path).name.replace("gtFine_instanceIds.png", "pred.txt"))
        pred.write_text("only_two fields\n")
        preds.append(str(pred))
    with pytest.raises(DetError, match="Cityscapes evaluation failed: Invalid prediction file"):
        evaluate_instances(gt, preds, str(pred_dir))


def test_in1d_stand_in_equals_isin_on_flat_input():
    from detcli.evaluation.cityscapes_scripts import _NumpyForCityscapes

    compat = _NumpyForCityscapes()
    values = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(compat.in1d(values, [2, 6]), [False, True, False, False, False, True])
    np.testing.assert_array_equal(compat.in1d(values, [2, 6], invert=True).reshape(2, 3),
                                  ~np.isin(values, [2, 6]))
    assert compat.unique is np.unique
