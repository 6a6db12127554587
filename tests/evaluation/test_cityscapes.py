"""Cityscapes: submission files without the package; a clear error where the package is needed."""

from __future__ import annotations

import importlib.util

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
