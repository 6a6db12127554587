"""The pipeline's fast paths give exactly what the general code gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detcli.data.pipelines.image_ops import _imnormalize_float, imnormalize
from detcli.structures.masks import BitmapMasks

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


@pytest.mark.parametrize("to_rgb", [True, False])
@pytest.mark.parametrize("shape", [(37, 53, 3), (320, 320, 3), (1, 1, 3)])
def test_table_normalize_equals_float_normalize(shape, to_rgb):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    img[0, 0] = (0, 128, 255)
    got = imnormalize(img, MEAN, STD, to_rgb)
    want = _imnormalize_float(img, MEAN, STD, to_rgb)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_array_equal(got, want)
    channel = 0 if to_rgb else 2  # the red value 255 lands in channel 0 after BGR->RGB
    assert np.isclose(got[0, 0, channel], (255 - MEAN[channel]) / STD[channel], rtol=1e-6)


def test_float_and_gray_images_take_the_general_path():
    img = np.random.default_rng(1).random((8, 9, 3)).astype(np.float32) * 255
    np.testing.assert_allclose(imnormalize(img, MEAN, STD, False), (img - MEAN) / STD, rtol=1e-5)
    gray = np.full((4, 5, 1), 200, np.uint8)
    out = imnormalize(gray, np.array([100.0]), np.array([50.0]), to_rgb=False)
    np.testing.assert_allclose(out, 2.0)


@pytest.mark.parametrize("out_shape", [(40, 60), (23, 31), (80, 120)])
def test_mask_resize_per_mask_equals_opencv_on_the_stack(out_shape):
    masks = (np.random.default_rng(2).random((5, 40, 60)) > 0.6).astype(np.uint8)
    got = BitmapMasks(masks, 40, 60).resize(out_shape)
    h, w = out_shape
    want = cv2.resize(np.ascontiguousarray(masks.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(got.masks, want.transpose(2, 0, 1))
    assert (got.height, got.width) == out_shape
    if out_shape == (40, 60):
        assert not np.shares_memory(got.masks, masks)  # a copy, as OpenCV returns
