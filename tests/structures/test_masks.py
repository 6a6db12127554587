"""BitmapMasks / PolygonMasks: geometry checked against hand-made pixels and independent formulas."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

from detcli.structures.masks import BitmapMasks, PolygonMasks, bitmap_to_polygon, polygon_to_bitmap

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"


def _rect_mask(h, w, x1, y1, x2, y2):
    m = np.zeros((h, w), np.uint8)
    m[y1:y2, x1:x2] = 1
    return m


def _poly_rect(x1, y1, x2, y2):
    return [np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)]


@pytest.fixture
def bitmaps():
    return BitmapMasks(np.stack([_rect_mask(20, 30, 2, 3, 10, 8), _rect_mask(20, 30, 15, 0, 30, 20)]), 20, 30)


@pytest.fixture
def polygons():
    return PolygonMasks([_poly_rect(2, 3, 10, 8), _poly_rect(15, 0, 30, 20) + _poly_rect(0, 15, 4, 20)], 20, 30)


def test_empty_masks_keep_their_size():
    empty = BitmapMasks([], 7, 9)
    assert empty.to_ndarray().shape == (0, 7, 9)
    assert empty.resize((14, 18)).to_ndarray().shape == (0, 14, 18)
    assert empty.pad((10, 10)).to_ndarray().shape == (0, 10, 10)
    assert PolygonMasks([], 7, 9).to_ndarray().shape == (0, 7, 9)
    assert len(empty.crop_and_resize(np.zeros((0, 4), np.float32), (5, 5), np.zeros(0, np.int64))) == 0


def test_indexing_and_len(bitmaps, polygons):
    assert len(bitmaps) == 2 and len(polygons) == 2
    one = bitmaps[1]
    assert isinstance(one, BitmapMasks) and one.to_ndarray().shape == (1, 20, 30)
    np.testing.assert_array_equal(one.to_ndarray()[0], bitmaps.masks[1])
    assert len(polygons[np.array([1])]) == 1 and len(polygons[np.array([True, False])]) == 1
    assert len(polygons[[0, 1]]) == 2 and len(polygons[0:1]) == 1
    assert len(bitmaps[np.array([False, False])]) == 0


def test_polygon_rasterisation_matches_bitmap(bitmaps, polygons):
    np.testing.assert_array_equal(polygons.to_ndarray()[0], bitmaps.masks[0])
    # second instance: union of its two parts
    expected = np.maximum(_rect_mask(20, 30, 15, 0, 30, 20), _rect_mask(20, 30, 0, 15, 4, 20))
    np.testing.assert_array_equal(polygons.to_ndarray()[1], expected)
    assert polygons.to_bitmap().masks.shape == (2, 20, 30)


def test_areas(bitmaps, polygons):
    np.testing.assert_array_equal(bitmaps.areas, [8 * 5, 15 * 20])
    np.testing.assert_allclose(polygons.areas, [8 * 5, 15 * 20 + 4 * 5])


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_flip_twice_is_identity_and_matches_numpy(bitmaps, polygons, direction):
    axis = {"horizontal": (1,), "vertical": (0,), "diagonal": (0, 1)}[direction]
    flipped = bitmaps.flip(direction)
    np.testing.assert_array_equal(flipped.masks[0], np.flip(bitmaps.masks[0], axis))
    np.testing.assert_array_equal(flipped.flip(direction).masks, bitmaps.masks)
    pflip = polygons.flip(direction)
    # polygon flip x' = W - x rasterises to exactly the flipped pixels
    stack_axes = tuple(a + 1 for a in axis)
    np.testing.assert_array_equal(pflip.to_ndarray(), np.flip(polygons.to_ndarray(), stack_axes))
    back = pflip.flip(direction)
    for a, b in zip(back.masks, polygons.masks):
        for pa, pb in zip(a, b):
            np.testing.assert_allclose(pa, pb)


def test_resize_and_rescale_follow_cv2_nearest(bitmaps, polygons):
    out = bitmaps.resize((40, 60))
    assert (out.height, out.width) == (40, 60)
    np.testing.assert_array_equal(out.masks[0], cv2.resize(bitmaps.masks[0], (60, 40), interpolation=cv2.INTER_NEAREST))
    # (long, short) = (45, 45): factor min(45/30, 45/20) = 1.5 -> 30x45
    res = bitmaps.rescale((45, 45))
    assert res.to_ndarray().shape == (2, 30, 45)
    pres = polygons.rescale(2.0)
    assert (pres.height, pres.width) == (40, 60)
    np.testing.assert_allclose(pres.masks[0][0], _poly_rect(4, 6, 20, 16)[0])
    np.testing.assert_array_equal(pres.to_ndarray()[0], out.masks[0])


def test_rescale_matches_mmcv_fixture():
    ref = np.load(FIXTURES / "mmcv_image_ops.npz")
    masks = BitmapMasks(ref["masks"], 37, 53)
    np.testing.assert_array_equal(masks.rescale((64, 48)).masks, ref["masks_rescaled"])


def test_pad_crop_expand(bitmaps, polygons):
    padded = bitmaps.pad((25, 32), pad_val=0)
    assert padded.masks.shape == (2, 25, 32)
    np.testing.assert_array_equal(padded.masks[:, :20, :30], bitmaps.masks)
    assert padded.masks[:, 20:, :].sum() == 0 and padded.masks[:, :, 30:].sum() == 0
    assert polygons.pad((25, 32)).height == 25

    box = np.array([1, 2, 12, 9])
    cropped = bitmaps.crop(box)
    np.testing.assert_array_equal(cropped.masks, bitmaps.masks[:, 2:9, 1:12])
    pc = polygons.crop(box)
    assert (pc.height, pc.width) == (7, 11)
    np.testing.assert_array_equal(pc.to_ndarray(), polygons.to_ndarray()[:, 2:9, 1:12])
    # a crop box beyond the image is clipped
    assert bitmaps.crop(np.array([-5, -5, 100, 100])).masks.shape == (2, 20, 30)

    expanded = bitmaps.expand(30, 40, 5, 7)
    np.testing.assert_array_equal(expanded.masks[:, 5:25, 7:37], bitmaps.masks)
    assert expanded.masks.sum() == bitmaps.masks.sum()
    pe = polygons.expand(30, 40, 5, 7)
    canvas = np.zeros((2, 30, 40), bool)
    canvas[:, 5:25, 7:37] = polygons.to_ndarray()
    np.testing.assert_array_equal(pe.to_ndarray(), canvas)


def test_translate_moves_pixels(bitmaps, polygons):
    moved = bitmaps.translate((20, 30), 3, "horizontal", interpolation="nearest")
    np.testing.assert_array_equal(moved.masks[0], _rect_mask(20, 30, 5, 3, 13, 8))
    pm = polygons.translate((20, 30), 3, "vertical")
    np.testing.assert_allclose(pm.masks[0][0], [2, 6, 10, 6, 10, 11, 2, 11])


def test_crop_and_resize_bitmap_is_aligned_roi_align():
    rng = np.random.RandomState(0)
    masks = (rng.rand(3, 16, 20) > 0.5).astype(np.uint8)
    bm = BitmapMasks(masks, 16, 20)
    # a box on integer pixel edges with one output cell per pixel samples exactly the pixels
    boxes = np.array([[2, 3, 10, 7], [0, 0, 20, 16]], np.float32)
    out = bm.crop_and_resize(boxes[:1], (4, 8), np.array([1]), binarize=False)
    np.testing.assert_allclose(out.masks[0], masks[1, 3:7, 2:10])
    # 2x downsampling averages 2x2 pixel blocks (adaptive sampling: 2 samples per bin)
    down = bm.crop_and_resize(boxes[1:], (8, 10), np.array([2]), binarize=False)
    pooled = masks[2].reshape(8, 2, 10, 2).mean((1, 3))
    np.testing.assert_allclose(down.masks[0], pooled, atol=1e-6)
    binar = bm.crop_and_resize(boxes[1:], (8, 10), np.array([2]))
    np.testing.assert_array_equal(binar.masks[0], pooled >= 0.5)
    # tensors in, same answer
    tb = bm.crop_and_resize(torch.from_numpy(boxes[1:]), (8, 10), torch.tensor([2]))
    np.testing.assert_array_equal(tb.masks, binar.masks)


def test_crop_and_resize_polygon_maps_into_the_box():
    pm = PolygonMasks([_poly_rect(4, 4, 12, 12), [np.array([0, 0, 16, 0, 0, 16], np.float64)]], 20, 20)
    boxes = np.array([[4, 4, 12, 12], [0, 0, 16, 16]], np.float32)
    out = pm.crop_and_resize(boxes, (8, 8), np.array([0, 1]))
    assert (out.height, out.width) == (8, 8)
    arr = out.to_ndarray()
    assert arr[0].all()  # the box is exactly the square
    # the triangle (0,0)-(16,0)-(0,16) scaled by 0.5 is the triangle (0,0)-(8,0)-(0,8)
    expected = mask_utils.decode(mask_utils.frPyObjects([[0, 0, 8, 0, 0, 8]], 8, 8))[..., 0]
    np.testing.assert_array_equal(arr[1], expected)
    with pytest.raises(ValueError):
        pm.crop_and_resize(boxes, (8, 8), np.array([0, 1]), binarize=False)


def test_to_tensor_and_bboxes(bitmaps, polygons):
    t = bitmaps.to_tensor(torch.float32, "cpu")
    assert t.dtype == torch.float32 and t.shape == (2, 20, 30) and t.sum() == 40 + 300
    np.testing.assert_array_equal(bitmaps.get_bboxes(), [[2, 3, 10, 8], [15, 0, 30, 20]])
    np.testing.assert_array_equal(polygons.get_bboxes(), [[2, 3, 10, 8], [0, 0, 30, 20]])
    assert polygons.to_tensor(torch.uint8, "cpu").shape == (2, 20, 30)


def test_bitmap_polygon_helpers():
    m = _rect_mask(10, 10, 2, 2, 8, 8)
    m[4:6, 4:6] = 0
    contours, has_hole = bitmap_to_polygon(m)
    assert has_hole and len(contours) == 2
    assert not polygon_to_bitmap([np.array([1.0, 1.0, 2.0, 2.0])], 5, 5).any()  # degenerate polygon ignored
