"""``Albu``: mmdetection 2.x's albumentations wrapper, its config keys and its errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from detcli.config import Config
from detcli.data.pipelines import Albu, Compose
from detcli.errors import ConfigError, DataError
from detcli.structures.masks import BitmapMasks, PolygonMasks

REPO = Path(__file__).resolve().parents[2]
BBOX_PARAMS = dict(type="BboxParams", format="pascal_voc", label_fields=["gt_labels"], min_visibility=0.0,
                   filter_lost_elements=True)


@pytest.fixture
def albumentations():
    # detcli turns albumentations' import-time update check off; its own import here must too
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    return pytest.importorskip("albumentations")


def two_objects(make_results, h=40, w=60):
    """Boxes at the left and the right of a w x h image, with their masks filled in."""
    img = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    boxes = np.array([[2, 4, 12, 20], [40, 10, 58, 30]], np.float32)
    masks = np.zeros((2, h, w), np.uint8)
    masks[0, 4:20, 2:12] = 1
    masks[1, 10:30, 40:58] = 1
    return make_results(img, boxes, [3, 1], BitmapMasks(masks, h, w))


def test_a_deterministic_flip_moves_image_boxes_and_masks_together(albumentations, make_results):
    results = two_objects(make_results)
    img = results["img"].copy()
    out = Albu([dict(type="HorizontalFlip", p=1.0)], bbox_params=BBOX_PARAMS)(results)
    assert np.array_equal(out["img"], img[:, ::-1])
    assert out["gt_bboxes"].dtype == np.float32
    # x1' = 60 - x2, x2' = 60 - x1 (albumentations works in normalised coordinates: float rounding)
    assert np.allclose(out["gt_bboxes"], [[48, 4, 58, 20], [2, 10, 20, 30]], atol=1e-4)
    assert out["gt_labels"].dtype == np.int64 and out["gt_labels"].tolist() == [3, 1]
    assert isinstance(out["gt_masks"], BitmapMasks) and len(out["gt_masks"]) == 2
    assert out["gt_masks"].masks[0, 4:20, 48:58].all() and out["gt_masks"].masks[0].sum() == 16 * 10


def test_lost_boxes_take_their_labels_and_masks_along(albumentations, make_results):
    crop = [dict(type="Crop", x_min=0, y_min=0, x_max=30, y_max=40)]  # keeps the left object only
    out = Albu(crop, bbox_params=BBOX_PARAMS)(two_objects(make_results))
    assert out["img"].shape == (40, 30, 3)
    assert np.allclose(out["gt_bboxes"], [[2, 4, 12, 20]], atol=1e-4) and out["gt_labels"].tolist() == [3]
    assert out["gt_masks"].masks.shape == (1, 40, 30) and out["gt_masks"].masks.sum() == 16 * 10
    # nothing left: skipped (None) only when asked
    empty = [dict(type="Crop", x_min=20, y_min=0, x_max=38, y_max=40)]
    assert Albu(empty, bbox_params=BBOX_PARAMS, skip_img_without_anno=True)(two_objects(make_results)) is None
    kept = Albu(empty, bbox_params=BBOX_PARAMS)(two_objects(make_results))
    assert kept["gt_bboxes"].shape == (0, 4) and kept["gt_masks"].masks.shape == (0, 40, 18)


def test_update_pad_shape_and_keymap(albumentations, make_results):
    results = two_objects(make_results)
    results["pad_shape"] = (40, 60, 3)
    out = Albu([dict(type="Resize", height=20, width=30)], bbox_params=BBOX_PARAMS, update_pad_shape=True)(results)
    assert out["pad_shape"] == (20, 30, 3)
    assert np.allclose(out["gt_bboxes"], [[1, 2, 6, 10], [20, 5, 29, 15]], atol=1e-4)
    # a keymap that leaves the masks out: they are not augmented (nor touched)
    results = two_objects(make_results)
    masks = results["gt_masks"]
    out = Albu([dict(type="HorizontalFlip", p=1.0)], keymap={"img": "image", "gt_bboxes": "bboxes"},
               bbox_params=dict(type="BboxParams", format="pascal_voc", label_fields=["gt_labels"]))(results)
    assert out["gt_masks"] is masks and np.allclose(out["gt_bboxes"][0], [48, 4, 58, 20], atol=1e-4)


def test_nested_transforms_and_the_legacy_jpeg_name(albumentations):
    albu = Albu([dict(type="OneOf", transforms=[dict(type="Blur", blur_limit=3, p=1.0),
                                                 dict(type="MedianBlur", blur_limit=3, p=1.0)], p=0.1),
                 dict(type="JpegCompression", quality_lower=85, quality_upper=95, p=0.2)])
    one_of, jpeg = albu.aug.transforms
    assert type(one_of).__name__ == "OneOf" and [type(t).__name__ for t in one_of.transforms] == ["Blur", "MedianBlur"]
    assert type(jpeg).__name__ == "ImageCompression" and tuple(jpeg.quality_range) == (85, 95)
    assert "JpegCompression" in repr(albu)


@pytest.mark.filterwarnings("ignore:ShiftScaleRotate is a special case:UserWarning")  # albumentations 2's advice
def test_the_albu_example_config_runs_on_a_shapes_image(albumentations, shapes_root):
    cfg = Config.fromfile(REPO / "configs/albu_example/mask_rcnn_r50_fpn_albu_1x_coco.py")
    pipeline = cfg.data.train.pipeline
    pipeline[2]["img_scale"] = (128, 128)
    pipeline = Compose(pipeline)
    from detcli.data import CocoDataset

    ds = CocoDataset(str(shapes_root / "annotations/instances_train.json"), [], img_prefix=str(shapes_root / "train"),
                     classes=("circle", "square", "triangle", "star"))
    results = dict(img_info=ds.data_infos[0], ann_info=ds.get_ann_info(0))
    ds.pre_pipeline(results)
    out = pipeline(results)
    n = len(ds.get_ann_info(0)["bboxes"])
    assert out["img"].data.shape == (3, 128, 128)
    assert out["gt_bboxes"].data.shape == (n, 4) and out["gt_labels"].data.shape == (n,)
    assert out["gt_masks"].data.masks.shape == (n, 128, 128)
    assert set(out["img_metas"].data) == {"filename", "ori_shape", "img_shape", "img_norm_cfg", "pad_shape",
                                          "scale_factor"}


def test_errors_are_one_line(albumentations, make_results):
    with pytest.raises(ConfigError, match="no transform 'HorizontalFlp'") as info:
        Albu([dict(type="HorizontalFlp")])
    assert "HorizontalFlip" in info.value.hint
    polygons = make_results(np.zeros((8, 8, 3), np.uint8), [[0, 0, 4, 4]], [0],
                            PolygonMasks([[np.array([0, 0, 4, 0, 4, 4], np.float64)]], 8, 8))
    with pytest.raises(DataError, match="polygons") as info:
        Albu([dict(type="HorizontalFlip")])(polygons)
    assert "poly2mask=True" in info.value.hint


def test_without_albumentations_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "albumentations", None)  # import albumentations -> ImportError
    with pytest.raises(ConfigError, match="needs the optional package 'albumentations'") as info:
        Compose([dict(type="Albu", transforms=[dict(type="HorizontalFlip")])])
    assert "\n" not in str(info.value) and "pip install albumentations" in info.value.hint


def test_albu_turns_off_albumentations_update_check(albumentations, monkeypatch):
    monkeypatch.delenv("NO_ALBUMENTATIONS_UPDATE", raising=False)
    Albu([dict(type="HorizontalFlip")])
    assert os.environ["NO_ALBUMENTATIONS_UPDATE"] == "1"
