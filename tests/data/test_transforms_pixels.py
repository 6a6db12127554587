"""Loading and pixel-value transforms: file reading, Normalize/Resize/Pad against mmcv-made
reference arrays, PhotoMetricDistortion, Corrupt."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from detcli.data import imread
from detcli.data.image_io import UnreadableImageError
from detcli.data.pipelines import (
    FilterAnnotations,
    LoadAnnotations,
    LoadImageFromFile,
    LoadImageFromWebcam,
    LoadProposals,
    Normalize,
    Pad,
    PhotoMetricDistortion,
    Resize,
)
from detcli.data.pipelines.image_ops import (
    bgr2hsv,
    imnormalize,
    impad,
    impad_to_multiple,
    imrescale,
    imresize,
)
from detcli.errors import ConfigError, DataError
from detcli.structures.masks import BitmapMasks, PolygonMasks

REF = np.load(Path(__file__).parent / "fixtures" / "mmcv_image_ops.npz")
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def test_image_ops_equal_mmcv_reference():
    """Arrays recorded with mmcv 1.7.2 (imrescale/imresize/imnormalize/impad/bgr2hsv)."""
    img = REF["img"]
    rescaled, factor = imrescale(img, (64, 48))
    np.testing.assert_array_equal(rescaled, REF["rescaled"])
    assert factor == pytest.approx(64 / 53)
    np.testing.assert_array_equal(imresize(img, (70, 30)), REF["resized"])
    normalized = imnormalize(REF["rescaled"], MEAN, STD, True)
    np.testing.assert_array_equal(normalized, REF["normalized"])  # bit-exact
    np.testing.assert_array_equal(impad_to_multiple(normalized, 32), REF["padded"])
    # (a per-channel value: mmcv pads only channel 0 when given a bare number; we fill all channels)
    np.testing.assert_array_equal(impad(REF["rescaled"], (60, 80), 7), REF["padded_fixed"])
    np.testing.assert_allclose(bgr2hsv(img.astype(np.float32)), REF["hsv"], atol=1e-4)


def test_normalize_transform_formula():
    img = REF["img"]
    out = Normalize(mean=MEAN, std=STD, to_rgb=True)({"img": img.copy()})
    expected = (img[..., ::-1].astype(np.float32) - MEAN) / STD
    np.testing.assert_allclose(out["img"], expected, rtol=1e-5, atol=1e-5)
    assert out["img"].dtype == np.float32
    assert out["img_norm_cfg"]["to_rgb"] is True and out["img_norm_cfg"]["mean"].dtype == np.float32
    no_rgb = Normalize(mean=MEAN, std=STD, to_rgb=False)({"img": img.copy()})
    np.testing.assert_allclose(no_rgb["img"], (img.astype(np.float32) - MEAN) / STD, rtol=1e-5, atol=1e-5)

    # a channel-permuted view (as PhotoMetricDistortion leaves it) is not C-ordered: still normalised
    permuted = img[..., [2, 0, 1]]
    assert not permuted.flags.c_contiguous
    out = Normalize(mean=MEAN, std=STD, to_rgb=True)({"img": permuted})["img"]
    np.testing.assert_allclose(out, (img[..., [1, 0, 2]].astype(np.float32) - MEAN) / STD, rtol=1e-5, atol=1e-5)


def test_pipeline_resize_normalize_pad_equals_reference():
    res = {"img": REF["img"].copy(), "img_fields": ["img"]}
    for t in (Resize(img_scale=(64, 48), keep_ratio=True), Normalize(mean=MEAN, std=STD), Pad(size_divisor=32)):
        res = t(res)
    np.testing.assert_array_equal(res["img"], REF["padded"])
    assert res["img_shape"] == (45, 64, 3) and res["pad_shape"] == (64, 64, 3)


@pytest.fixture
def image_file(tmp_path):
    img = np.random.RandomState(0).randint(0, 256, (24, 32, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    return tmp_path, img


def test_imread_bgr_rgb_gray_and_errors(image_file, tmp_path):
    root, img = image_file
    np.testing.assert_array_equal(imread(root / "a.png"), img)
    np.testing.assert_array_equal(imread(str(root / "a.png"), channel_order="rgb"), img[..., ::-1])
    gray = imread(root / "a.png", "grayscale")
    assert gray.shape == (24, 32)  # the decoder rounds its own way: within 1 of cvtColor
    np.testing.assert_allclose(gray, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), atol=1)
    assert imread(img) is img
    with pytest.raises(DataError, match="image file not found: .*missing.png"):
        imread(root / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UnreadableImageError, match="cannot decode image .*bad.png"):
        imread(tmp_path / "bad.png")


def test_load_image_from_file_adds_keys(image_file):
    root, img = image_file
    res = LoadImageFromFile()(dict(img_prefix=str(root), img_info=dict(filename="a.png")))
    np.testing.assert_array_equal(res["img"], img)
    assert res["filename"] == str(root / "a.png") and res["ori_filename"] == "a.png"
    assert res["img_shape"] == res["ori_shape"] == (24, 32, 3) and res["img_fields"] == ["img"]
    as_float = LoadImageFromFile(to_float32=True)(dict(img_prefix=None, img_info=dict(filename=str(root / "a.png"))))
    assert as_float["img"].dtype == np.float32
    cam = LoadImageFromWebcam()(dict(img=img))
    assert cam["filename"] is None and cam["img_shape"] == (24, 32, 3)
    with pytest.raises(DataError, match="nope.png"):
        LoadImageFromFile()(dict(img_prefix=str(root), img_info=dict(filename="nope.png")))


def _ann_results(masks_ann, h=20, w=30):
    return dict(img_info=dict(height=h, width=w), img_shape=(h, w, 3), bbox_fields=[], mask_fields=[], seg_fields=[],
                ann_info=dict(bboxes=np.float32([[1, 2, 10, 12]]), labels=np.int64([3]),
                              bboxes_ignore=np.zeros((0, 4), np.float32), masks=masks_ann, seg_map="seg.png"))


def test_load_annotations_polygons_rle_and_seg(tmp_path):
    poly = [[2, 3, 10, 3, 10, 9, 2, 9]]
    rle = mask_utils.encode(np.asfortranarray(np.pad(np.ones((4, 5), np.uint8), ((1, 15), (20, 5)))))
    rle["counts"] = rle["counts"].decode()
    res = LoadAnnotations(with_mask=True)(_ann_results([poly, rle]))
    assert isinstance(res["gt_masks"], BitmapMasks)
    m = res["gt_masks"].masks
    assert m[0].sum() == 8 * 6 and m[0][3:9, 2:10].all()
    assert m[1].sum() == 20 and m[1][1:5, 20:25].all()
    assert res["bbox_fields"] == ["gt_bboxes_ignore", "gt_bboxes"] and res["mask_fields"] == ["gt_masks"]
    assert res["gt_labels"].dtype == np.int64 and res["gt_bboxes"].dtype == np.float32
    polys = LoadAnnotations(with_mask=True, poly2mask=False)(_ann_results([poly + [[1, 1, 2, 2]]]))
    assert isinstance(polys["gt_masks"], PolygonMasks) and len(polys["gt_masks"].masks[0]) == 1  # invalid part dropped
    seg = np.random.RandomState(0).randint(0, 5, (20, 30)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "seg.png"), seg)
    with_seg = LoadAnnotations(with_seg=True)(dict(_ann_results([poly]), seg_prefix=str(tmp_path)))
    np.testing.assert_array_equal(with_seg["gt_semantic_seg"], seg)
    assert with_seg["seg_fields"] == ["gt_semantic_seg"]


def test_load_annotations_denorm_and_proposals():
    res = _ann_results([])
    res["ann_info"]["bboxes"] = np.float32([[0.1, 0.5, 0.5, 1.0]])
    out = LoadAnnotations(denorm_bbox=True)(res)
    np.testing.assert_allclose(out["gt_bboxes"], [[3, 10, 15, 20]])
    props = LoadProposals(num_max_proposals=2)(dict(proposals=np.float32([[0, 0, 5, 5, .9], [1, 1, 3, 3, .8],
                                                                          [2, 2, 4, 4, .1]]), bbox_fields=[]))
    assert props["proposals"].shape == (2, 4) and props["bbox_fields"] == ["proposals"]
    assert LoadProposals()(dict(proposals=np.zeros((0, 4), np.float32), bbox_fields=[]))["proposals"].shape == (1, 4)
    with pytest.raises(ValueError):
        LoadProposals()(dict(proposals=np.zeros((3, 3), np.float32), bbox_fields=[]))


def test_filter_annotations():
    res = dict(gt_bboxes=np.float32([[0, 0, 5, 5], [0, 0, 1, 9], [2, 2, 3.5, 3.5]]), gt_labels=np.int64([0, 1, 2]))
    out = FilterAnnotations(min_gt_bbox_wh=(1.0, 1.0))(dict(res))
    np.testing.assert_array_equal(out["gt_labels"], [0, 2])
    assert FilterAnnotations(min_gt_bbox_wh=(10, 10))(dict(res)) is None  # nothing left: dropped (keep_empty)
    assert FilterAnnotations(min_gt_bbox_wh=(10, 10), keep_empty=False)(dict(res))["gt_bboxes"].shape == (0, 4)


def test_photometric_distortion_identity_settings_only_permutes_channels():
    np.random.seed(0)
    img = REF["img"]
    t = PhotoMetricDistortion(brightness_delta=0, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    for _ in range(5):
        out = t({"img": img.copy()})["img"]
        assert out.dtype == np.float32
        # HSV round trip of float images is exact to ~1e-3; the channel order may be permuted
        assert any(np.allclose(out, img[..., list(p)], atol=1e-2)
                   for p in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)))


def test_photometric_distortion_brightness_range():
    np.random.seed(1)
    img = np.full((8, 8, 3), 100, np.uint8)
    t = PhotoMetricDistortion(brightness_delta=10, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    outs = [t({"img": img.copy()})["img"] for _ in range(20)]
    deltas = [float(o.mean() - 100) for o in outs]
    assert all(-10.01 <= d <= 10.01 for d in deltas) and any(abs(d) > 0.5 for d in deltas)


def test_corrupt_really_corrupts_an_image():
    """imagecorruptions (the optional extra; in the dev extra for the tests) on current numpy/scikit-image."""
    from detcli.data.pipelines import Corrupt

    yy, xx = np.mgrid[0:64, 0:64]
    board = np.where(((yy // 8) + (xx // 8)) % 2 == 0, 200, 50).astype(np.uint8)
    img = np.repeat(board[..., None], 3, axis=2)
    noisy = Corrupt("gaussian_noise", severity=3)({"img": img.copy()})["img"]
    assert noisy.shape == img.shape and noisy.dtype == np.uint8
    assert np.abs(noisy.astype(float) - img).mean() > 5  # pixels moved
    assert abs(float(noisy.mean()) - float(img.mean())) < 10  # around the same image
    blurred = Corrupt("gaussian_blur", severity=2)({"img": img.copy()})["img"]  # scikit-image's channel_axis
    edges = lambda a: np.abs(np.diff(a.astype(float), axis=1)).sum()  # noqa: E731
    assert blurred.shape == img.shape and edges(blurred) < 0.8 * edges(img)
    foggy = Corrupt("fog", severity=1)({"img": img.copy()})["img"]  # numpy 2 (np.float_ is gone)
    assert foggy.shape == img.shape and not np.array_equal(foggy, img)
    assert repr(Corrupt("fog", severity=1)) == "Corrupt(corruption=fog, severity=1)"


def test_corrupt_refuses_an_unknown_corruption_and_severity():
    from detcli.data.pipelines import Corrupt

    with pytest.raises(ConfigError, match="unknown corruption 'gauss'") as err:
        Corrupt("gauss")
    assert "gaussian_noise" in err.value.hint
    with pytest.raises(ConfigError, match="severity must be 1 to 5"):
        Corrupt("fog", severity=6)


def test_corrupt_without_imagecorruptions_says_what_to_install(monkeypatch):
    from detcli.data.pipelines import Corrupt

    monkeypatch.setitem(sys.modules, "imagecorruptions", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="needs the optional package 'imagecorruptions'") as err:
        Corrupt("gaussian_noise")
    assert "pip install imagecorruptions-imaug" in err.value.hint and "detcli[optional]" in err.value.hint


def test_corrupt_with_a_broken_imagecorruptions_reports_the_real_cause(tmp_path, monkeypatch):
    """imagecorruptions 1.1.2 is installed but imports pkg_resources, which current setuptools lacks."""
    from detcli.data.pipelines import Corrupt

    package = tmp_path / "imagecorruptions"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg_resources import resource_filename\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "imagecorruptions", raising=False)
    monkeypatch.setitem(sys.modules, "pkg_resources", None)
    with pytest.raises(ConfigError) as err:
        Corrupt("fog")
    assert "imagecorruptions is installed but cannot be imported" in str(err.value)
    assert "pkg_resources" in str(err.value) and "not installed" not in str(err.value)
    assert "pip install imagecorruptions-imaug" in err.value.hint


def test_corrupt_on_an_old_imagecorruptions_api_failure_names_the_fix(monkeypatch):
    from detcli.data.pipelines import Corrupt

    def old_corrupt(image, severity=1, corruption_name=None):
        raise TypeError("gaussian() got an unexpected keyword argument 'multichannel'")

    fake = types.SimpleNamespace(corrupt=old_corrupt, get_corruption_names=lambda subset: ["glass_blur"])
    monkeypatch.setitem(sys.modules, "imagecorruptions", fake)
    transform = Corrupt("glass_blur")
    with pytest.raises(ConfigError, match="imagecorruptions fails on 'glass_blur'.*multichannel") as err:
        transform({"img": np.zeros((8, 8, 3), np.uint8)})
    assert "imagecorruptions-imaug" in err.value.hint
