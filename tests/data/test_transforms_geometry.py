"""Geometric transforms: exact numbers by hand, and boxes/masks/seg staying on the pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detcli.data.pipelines import (
    Compose,
    Expand,
    MinIoURandomCrop,
    Pad,
    RandomCrop,
    RandomFlip,
    RandomShift,
    Resize,
    SegRescale,
)
from detcli.structures.masks import BitmapMasks, PolygonMasks

H, W = 60, 80
# three objects: two rectangles and a triangle (polygon vertices in pixel-corner coordinates)
POLYS = [
    [np.array([10, 5, 30, 5, 30, 25, 10, 25], np.float64)],
    [np.array([40, 30, 75, 30, 75, 55, 40, 55], np.float64)],
    [np.array([5, 35, 30, 58, 5, 58], np.float64)],
]


def scene(make_results, polygon=False):
    """White objects on black, their masks, boxes, labels 0..2 and a seg map (label+1)."""
    pm = PolygonMasks([list(p) for p in POLYS], H, W)
    bitmap = pm.to_ndarray().astype(np.uint8)
    img = np.zeros((H, W, 3), np.uint8)
    img[bitmap.any(0)] = 255
    seg = np.zeros((H, W), np.uint8)
    for k, m in enumerate(bitmap):
        seg[m.astype(bool)] = k + 1
    masks = pm if polygon else BitmapMasks(bitmap, H, W)
    return make_results(img, BitmapMasks(bitmap, H, W).get_bboxes(), [0, 1, 2], masks, seg)


def _off_edge(a, b, band=1):
    """Pixels where ``a`` and ``b`` differ that are not on ``b``'s boundary (``band`` px)."""
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    u8 = b.astype(np.uint8)
    band = cv2.dilate(u8, kernel).astype(bool) & ~cv2.erode(u8, kernel).astype(bool)
    return (a != b) & ~band


def assert_aligned(results, edges=False, box_tol=0.0, band=1, tight=True):
    """Mask pixels are the bright image pixels, seg labels match masks, boxes enclose masks.

    ``edges``: interpolation may disagree on the 1-pixel boundary band (a shift would not)."""
    img = results["img"]
    masks = results["gt_masks"].to_ndarray().astype(bool)
    h, w = img.shape[:2]
    assert masks.shape[1:] == (h, w)
    bright = img.mean(-1) > 127
    union = masks.any(0)
    seg = results["gt_semantic_seg"]
    assert seg.shape == (h, w)
    labelled = (seg > 0) & (seg != 255)
    for name, other in (("image", bright), ("seg", labelled)):
        bad = _off_edge(other, union, band) if edges else other != union
        assert not bad.any(), f"{bad.sum()} {name} pixels disagree with the masks"
    assert union.sum() > 0
    extents = BitmapMasks(masks.astype(np.uint8), h, w).get_bboxes()
    boxes = results["gt_bboxes"]
    assert len(boxes) == len(masks) == len(results["gt_labels"])
    if tight:
        np.testing.assert_allclose(boxes, extents, atol=box_tol + 1e-4)
    else:  # a cut box may keep empty corners, but every mask pixel lies inside its box
        has = masks.reshape(len(masks), -1).any(1)
        assert (extents[has, :2] >= boxes[has, :2] - 1e-4).all() and (extents[has, 2:] <= boxes[has, 2:] + 1e-4).all()


@pytest.mark.parametrize("polygon", [False, True])
def test_scene_starts_aligned(make_results, polygon):
    assert_aligned(scene(make_results, polygon))


# -- Resize -------------------------------------------------------------------------
def test_resize_keep_ratio_exact_numbers(make_results):
    r = Resize(img_scale=(100, 50), keep_ratio=True)(scene(make_results))
    # factor min(100/80, 50/60) = 0.8333: w = int(80 * s + 0.5) = 67, h = int(60 * s + 0.5) = 50
    assert r["img_shape"] == (50, 67, 3) and r["pad_shape"] == (50, 67, 3)
    np.testing.assert_allclose(r["scale_factor"], np.float32([67 / 80, 50 / 60, 67 / 80, 50 / 60]))
    assert r["scale_factor"].dtype == np.float32 and r["keep_ratio"] is True
    np.testing.assert_allclose(r["gt_bboxes"][0], np.float32([10, 5, 30, 25]) * r["scale_factor"], rtol=1e-6)
    assert r["gt_masks"].masks.shape == (3, 50, 67) and r["gt_semantic_seg"].shape == (50, 67)
    assert r["scale"] == (100, 50) and r["scale_idx"] == 0


@pytest.mark.parametrize("polygon", [False, True])
@pytest.mark.parametrize("scale,keep", [((160, 120), True), ((50, 50), True), ((97, 31), False), ((200, 90), False)])
def test_resize_keeps_masks_boxes_seg_on_the_pixels(make_results, polygon, scale, keep):
    r = Resize(img_scale=scale, keep_ratio=keep)(scene(make_results, polygon))
    if not keep:
        assert r["img_shape"][:2] == (scale[1], scale[0])
    # bilinear image vs nearest masks differ only along edges (2 px when shrinking a lot)
    shrink = float(r["scale_factor"].min())
    assert_aligned(r, edges=True, box_tol=1.5 / min(shrink, 1.0), band=1 if shrink > 0.75 else 2)


def test_resize_clips_boxes_unless_told_not_to(make_results):
    res = make_results(np.zeros((H, W, 3), np.uint8), [[-10, -5, 90, 70]], [0])
    clipped = Resize(img_scale=(160, 120), keep_ratio=True)(dict(res, gt_bboxes=res["gt_bboxes"].copy()))
    np.testing.assert_allclose(clipped["gt_bboxes"][0], [0, 0, 160, 120])
    raw = Resize(img_scale=(160, 120), keep_ratio=True, bbox_clip_border=False)(res)
    np.testing.assert_allclose(raw["gt_bboxes"][0], [-20, -10, 180, 140])


def test_resize_multiscale_modes():
    np.random.seed(0)
    rng_range = Resize(img_scale=[(100, 40), (140, 60)], multiscale_mode="range")
    for _ in range(20):
        res = {"img": np.zeros((30, 40, 3), np.uint8)}
        rng_range(res)
        long, short = res["scale"]
        assert 100 <= long <= 140 and 40 <= short <= 60 and res["scale_idx"] is None
    values = Resize(img_scale=[(100, 40), (140, 60), (70, 70)], multiscale_mode="value")
    seen = set()
    for _ in range(30):
        res = {"img": np.zeros((30, 40, 3), np.uint8)}
        values(res)
        assert res["scale"] == values.img_scale[res["scale_idx"]]
        seen.add(res["scale"])
    assert seen == {(100, 40), (140, 60), (70, 70)}
    ratio = Resize(img_scale=(100, 50), ratio_range=(0.5, 1.5))
    for _ in range(20):
        res = {"img": np.zeros((30, 40, 3), np.uint8)}
        ratio(res)
        w, h = res["scale"]
        assert 50 <= w <= 150 and 25 <= h <= 75 and abs(w / 100 - h / 50) < 0.05


def test_resize_from_scale_factor_and_conflicts():
    res = Resize(keep_ratio=True)({"img": np.zeros((30, 40, 3), np.uint8), "scale_factor": 2.0})
    assert res["img_shape"] == (60, 80, 3) and res["scale"] == (80, 60)
    with pytest.raises(ValueError):
        Resize(img_scale=(10, 10))({"img": np.zeros((3, 4, 3), np.uint8), "scale": (5, 5), "scale_factor": 1.0})
    over = Resize(img_scale=(8, 6), keep_ratio=False, override=True)(
        {"img": np.zeros((3, 4, 3), np.uint8), "scale": (5, 5), "scale_factor": 1.0})
    assert over["img_shape"] == (6, 8, 3)
    with pytest.raises(ValueError):
        Resize(img_scale=[(1, 2), (3, 4)], ratio_range=(0.5, 1))


# -- RandomFlip ----------------------------------------------------------------------
@pytest.mark.parametrize("direction,expected", [
    ("horizontal", [50, 5, 70, 25]), ("vertical", [10, 35, 30, 55]), ("diagonal", [50, 35, 70, 55])])
def test_flip_boxes_by_hand(make_results, direction, expected):
    res = make_results(np.zeros((H, W, 3), np.uint8), [[10, 5, 30, 25]], [0])
    out = RandomFlip(flip_ratio=1.0, direction=direction)(res)
    assert out["flip"] is True and out["flip_direction"] == direction
    np.testing.assert_allclose(out["gt_bboxes"][0], expected)


@pytest.mark.parametrize("polygon", [False, True])
@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_flip_aligned_and_twice_identity(make_results, polygon, direction):
    start = scene(make_results, polygon)
    img0, boxes0, seg0 = start["img"].copy(), start["gt_bboxes"].copy(), start["gt_semantic_seg"].copy()
    masks0 = start["gt_masks"].to_ndarray().copy()
    once = RandomFlip(flip_ratio=1.0, direction=direction)(start)
    # rasterising a mirrored diagonal edge may flip a pixel exactly on it
    assert_aligned(once, edges=polygon, box_tol=1.0 if polygon else 0.0)
    assert not np.array_equal(once["img"], img0)
    twice = RandomFlip(flip_ratio=1.0, direction=direction)({**once, "flip": True, "flip_direction": direction})
    np.testing.assert_array_equal(twice["img"], img0)
    np.testing.assert_allclose(twice["gt_bboxes"], boxes0)
    np.testing.assert_array_equal(twice["gt_semantic_seg"], seg0)
    np.testing.assert_array_equal(twice["gt_masks"].to_ndarray(), masks0)


def test_flip_ratio_semantics(make_results):
    np.random.seed(0)
    never = RandomFlip(flip_ratio=0.0)
    assert not any(never(make_results(np.zeros((4, 4, 3), np.uint8)))["flip"] for _ in range(20))
    only_vertical = RandomFlip(flip_ratio=[0.0, 1.0], direction=["horizontal", "vertical"])
    for _ in range(10):
        out = only_vertical(make_results(np.zeros((4, 4, 3), np.uint8)))
        assert out["flip"] and out["flip_direction"] == "vertical"
    half = [RandomFlip(flip_ratio=0.5)(make_results(np.zeros((2, 2, 3), np.uint8)))["flip"] for _ in range(400)]
    assert 0.4 < np.mean(half) < 0.6
    with pytest.raises(ValueError):
        RandomFlip(flip_ratio=1.5)
    with pytest.raises(ValueError):
        RandomFlip(flip_ratio=[0.5], direction=["horizontal", "vertical"])


# -- Pad -------------------------------------------------------------------------------
@pytest.mark.parametrize("polygon", [False, True])
def test_pad_divisor_and_fixed_size(make_results, polygon):
    out = Pad(size_divisor=32)(scene(make_results, polygon))
    assert out["img"].shape == (64, 96, 3) and out["pad_shape"] == (64, 96, 3)
    assert out["pad_size_divisor"] == 32 and out["pad_fixed_size"] is None
    assert (out["gt_semantic_seg"][H:, :] == 255).all() and (out["gt_semantic_seg"][:, W:] == 255).all()
    assert out["img"][H:, :].sum() == 0
    assert out["gt_masks"].to_ndarray().shape == (3, 64, 96)
    assert out["img_shape"] == (H, W, 3)  # the valid region is unchanged
    fixed = Pad(size=(70, 81), pad_val=dict(img=9, masks=0, seg=200))(scene(make_results, polygon))
    assert fixed["img"].shape == (70, 81, 3) and (fixed["img"][H:, :] == 9).all()
    assert (fixed["gt_semantic_seg"][H:] == 200).all()
    square = Pad(pad_to_square=True)(scene(make_results, polygon))
    assert square["img"].shape == (80, 80, 3)
    with pytest.raises(ValueError):
        Pad(size=(10, 10), size_divisor=32)


# -- crops and canvas changes --------------------------------------------------------
@pytest.mark.parametrize("polygon", [False, True])
@pytest.mark.parametrize("crop_type,size", [("absolute", (40, 50)), ("relative", (0.7, 0.6)),
                                            ("relative_range", (0.5, 0.5)), ("absolute_range", (30, 55))])
def test_random_crop_keeps_alignment(make_results, polygon, crop_type, size):
    np.random.seed(3)
    for _ in range(5):
        out = RandomCrop(size, crop_type=crop_type, allow_negative_crop=True)(scene(make_results, polygon))
        h, w = out["img"].shape[:2]
        if crop_type == "absolute":
            assert (h, w) == (40, 50)
        if crop_type == "relative":
            assert (h, w) == (int(H * 0.7 + 0.5), int(W * 0.6 + 0.5))
        assert out["img_shape"] == out["img"].shape
        # polygons cut by the window edge rasterise to within a pixel of the cut bitmap
        assert_aligned(out, edges=polygon, tight=False)
    np.random.seed(3)
    out = RandomCrop(size, crop_type=crop_type, allow_negative_crop=True, recompute_bbox=True)(
        scene(make_results, polygon))
    nonempty = out["gt_masks"].to_ndarray().reshape(len(out["gt_masks"]), -1).any(1)
    np.testing.assert_allclose(out["gt_bboxes"][nonempty], out["gt_masks"].get_bboxes()[nonempty])


def test_random_crop_by_hand_and_negative(make_results):
    np.random.seed(0)
    res = make_results(np.zeros((H, W, 3), np.uint8), [[10, 5, 30, 25], [60, 40, 70, 50]], [0, 1])
    out = RandomCrop((60, 40))(res)  # full height, 40 wide: offset_w is random in [0, 40]
    x0 = int(np.round(10 - out["gt_bboxes"][0, 0])) if len(out["gt_bboxes"]) else None
    assert out["img"].shape == (60, 40, 3)
    for box in out["gt_bboxes"]:
        assert (box >= 0).all() and box[2] <= 40 and box[3] <= 60
    assert x0 is None or 0 <= x0 <= 40
    empty = make_results(np.zeros((H, W, 3), np.uint8), [[0, 0, 2, 2]], [0])
    np.random.seed(1)
    results = [RandomCrop((10, 10))(dict(empty, gt_bboxes=empty["gt_bboxes"].copy())) for _ in range(10)]
    assert any(r is None for r in results)  # crops that lose every box are rejected
    kept = RandomCrop((10, 10), allow_negative_crop=True)(dict(empty, gt_bboxes=np.float32([[70, 50, 75, 55]])))
    assert kept is not None


@pytest.mark.parametrize("polygon", [False, True])
def test_expand_keeps_alignment(make_results, polygon):
    np.random.seed(0)
    out = Expand(mean=(0, 0, 0), ratio_range=(1.5, 2.5), prob=1.0, seg_ignore_label=0)(scene(make_results, polygon))
    h, w = out["img"].shape[:2]
    assert 1.5 * H - 1 <= h <= 2.5 * H and w / W == pytest.approx(h / H, abs=0.05)
    assert_aligned(out)
    assert Expand(prob=0.0)(scene(make_results))["img"].shape == (H, W, 3)


def test_min_iou_random_crop(make_results):
    np.random.seed(4)
    for _ in range(10):
        start = scene(make_results)
        out = MinIoURandomCrop(min_ious=(0.1, 0.3), min_crop_size=0.3)(start)
        h, w = out["img"].shape[:2]
        assert out["img_shape"] == out["img"].shape
        assert (out["gt_bboxes"][:, 0::2] >= 0).all() and (out["gt_bboxes"][:, 0::2] <= w).all()
        assert (out["gt_bboxes"][:, 1::2] >= 0).all() and (out["gt_bboxes"][:, 1::2] <= h).all()
        assert len(out["gt_labels"]) == len(out["gt_bboxes"]) == len(out["gt_masks"])
        # objects whose centre left the patch are dropped but their pixels stay: check the kept ones
        bright = out["img"].mean(-1) > 127
        masks = out["gt_masks"].to_ndarray().astype(bool)
        extents = out["gt_masks"].get_bboxes()
        for mask, label, box, ext in zip(masks, out["gt_labels"], out["gt_bboxes"], extents):
            assert bright[mask].all() and (out["gt_semantic_seg"][mask] == label + 1).all()
            if mask.any():
                assert (ext[:2] >= box[:2] - 1e-4).all() and (ext[2:] <= box[2:] + 1e-4).all()


def test_random_shift_moves_boxes_with_pixels(make_results):
    np.random.seed(0)
    img = np.zeros((H, W, 3), np.uint8)
    img[20:40, 30:50] = 255
    out = RandomShift(shift_ratio=1.0, max_shift_px=8)(make_results(img, [[30, 20, 50, 40]], [0]))
    ys, xs = np.nonzero(out["img"][..., 0])
    np.testing.assert_allclose(out["gt_bboxes"][0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def test_seg_rescale(make_results):
    out = SegRescale(scale_factor=0.5)(scene(make_results))
    assert out["gt_semantic_seg"].shape == (30, 40)
    assert set(np.unique(out["gt_semantic_seg"])) <= {0, 1, 2, 3}


def test_train_pipeline_chain_keeps_alignment(make_results):
    pipe = Compose([dict(type="Resize", img_scale=(120, 90), keep_ratio=True), dict(type="RandomFlip", flip_ratio=1.0),
                    dict(type="Pad", size_divisor=32)])
    out = pipe(scene(make_results, polygon=True))
    assert out["img"].shape[0] % 32 == 0 and out["img"].shape[1] % 32 == 0
    h, w = out["img_shape"][:2]
    region = {k: (v[:h, :w] if k in ("img", "gt_semantic_seg") else v) for k, v in out.items()}
    region["gt_masks"] = BitmapMasks(out["gt_masks"].to_ndarray()[:, :h, :w], h, w)
    assert_aligned(region, edges=True, box_tol=1.5)
