"""FCNMaskHead: shapes, targets from known masks, loss, and pasting masks back into images."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from detcli.errors import DetError
from detcli.models.roi_heads.mask_heads import paste_masks_in_image
from detcli.registry import HEADS
from detcli.structures.masks import BitmapMasks, PolygonMasks


def _head(**kwargs):
    cfg = dict(type="FCNMaskHead", num_convs=2, roi_feat_size=14, in_channels=4, conv_out_channels=8,
               num_classes=3)
    cfg.update(kwargs)
    return HEADS.build(cfg)


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_deconv_head_names_and_shapes():
    head = _head()
    assert _shapes(head) == {
        "convs.0.conv.weight": (8, 4, 3, 3), "convs.0.conv.bias": (8,),
        "convs.1.conv.weight": (8, 8, 3, 3), "convs.1.conv.bias": (8,),
        "upsample.weight": (8, 8, 2, 2), "upsample.bias": (8,),
        "conv_logits.weight": (3, 8, 1, 1), "conv_logits.bias": (3,),
    }
    assert head(torch.randn(2, 4, 14, 14)).shape == (2, 3, 28, 28)


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_interpolating_upsample(method):
    head = _head(upsample_cfg=dict(type=method, scale_factor=2))
    assert "upsample.weight" not in _shapes(head)
    assert head(torch.randn(2, 4, 14, 14)).shape == (2, 3, 28, 28)


def test_no_upsample_no_convs_and_class_agnostic():
    assert _head(upsample_cfg=dict(type=None))(torch.randn(1, 4, 14, 14)).shape == (1, 3, 14, 14)
    head = _head(num_convs=0, class_agnostic=True)
    assert _shapes(head)["upsample.weight"] == (4, 8, 2, 2)
    assert head(torch.randn(1, 4, 14, 14)).shape == (1, 1, 28, 28)


def test_unsupported_upsample_is_a_clear_error():
    with pytest.raises(DetError, match="carafe"):
        _head(upsample_cfg=dict(type="carafe", scale_factor=2))
    with pytest.raises(DetError, match="invalid upsample"):
        _head(upsample_cfg=dict(type="pixel_shuffle", scale_factor=2))


def test_init_weights_zeroes_the_logit_bias():
    head = _head()
    torch.nn.init.constant_(head.conv_logits.bias, 3.0)
    head.init_weights()
    assert head.conv_logits.bias.abs().sum() == 0 and head.upsample.bias.abs().sum() == 0


# -- targets and loss -----------------------------------------------------------------------
def _top_half_and_left_half(h=20, w=20):
    masks = np.zeros((2, h, w), dtype=np.uint8)
    masks[0, : h // 2] = 1
    masks[1, :, : w // 2] = 1
    return masks


@pytest.mark.parametrize("as_polygons", [False, True])
def test_mask_targets_from_known_masks(as_polygons):
    raw = _top_half_and_left_half()
    if as_polygons:
        gt = PolygonMasks([[np.array([0, 0, 20, 0, 20, 10, 0, 10], dtype=np.float64)],
                           [np.array([0, 0, 10, 0, 10, 20, 0, 20], dtype=np.float64)]], 20, 20)
    else:
        gt = BitmapMasks(raw, 20, 20)
    res = SimpleNamespace(
        # the second box sticks out of the image: it is clipped to [0, 20] first
        pos_bboxes=torch.tensor([[0.0, 0, 20, 20], [-5.0, 0, 20, 25]]),
        pos_assigned_gt_inds=torch.tensor([0, 1]),
    )
    targets = _head().get_targets([res], [gt], dict(mask_size=4))
    top = torch.tensor([[1.0] * 4, [1.0] * 4, [0.0] * 4, [0.0] * 4])
    assert targets.shape == (2, 4, 4) and targets.dtype == torch.float32
    torch.testing.assert_close(targets[0], top)
    torch.testing.assert_close(targets[1], top.t())


def test_mask_targets_of_no_positives():
    res = SimpleNamespace(pos_bboxes=torch.zeros(0, 4), pos_assigned_gt_inds=torch.zeros(0, dtype=torch.long))
    gt = BitmapMasks(_top_half_and_left_half(), 20, 20)
    assert _head().get_targets([res], [gt], dict(mask_size=28)).shape == (0, 28, 28)


def test_loss_is_bce_on_the_label_channel():
    head = _head()
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 3, 28, 28, generator=g)
    targets = (torch.rand(2, 28, 28, generator=g) > 0.5).float()
    labels = torch.tensor([2, 0])
    expected = F.binary_cross_entropy_with_logits(torch.stack([pred[0, 2], pred[1, 0]]), targets)
    torch.testing.assert_close(head.loss(pred, targets, labels)["loss_mask"].reshape(()), expected)
    agnostic = _head(class_agnostic=True)
    expected = F.binary_cross_entropy_with_logits(pred[:, 0], targets)
    torch.testing.assert_close(agnostic.loss(pred[:, :1], targets, labels)["loss_mask"].reshape(()), expected)
    assert head.loss(torch.zeros(0, 3, 28, 28), torch.zeros(0, 28, 28), labels[:0])["loss_mask"] == 0


# -- pasting --------------------------------------------------------------------------------
def _reference_paste(probs, boxes, img_h, img_w, thr):
    """The 2.28 CPU algorithm, one box at a time: sample its window of one pixel around the box."""
    out = np.zeros((len(boxes), img_h, img_w), dtype=bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        wx0, wy0 = max(int(np.floor(x0)) - 1, 0), max(int(np.floor(y0)) - 1, 0)
        wx1, wy1 = min(int(np.ceil(x1)) + 1, img_w), min(int(np.ceil(y1)) + 1, img_h)
        if wx1 <= wx0 or wy1 <= wy0:
            continue
        xs = (torch.arange(wx0, wx1, dtype=torch.float32) + 0.5 - x0) / (x1 - x0) * 2 - 1
        ys = (torch.arange(wy0, wy1, dtype=torch.float32) + 0.5 - y0) / (y1 - y0) * 2 - 1
        xs[torch.isinf(xs)] = 0  # a zero-width box samples the mask's centre column
        ys[torch.isinf(ys)] = 0
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]
        sampled = F.grid_sample(probs[i : i + 1], grid, align_corners=False)[0, 0]
        out[i, wy0:wy1, wx0:wx1] = (sampled >= thr).numpy()
    return out


def test_paste_a_full_mask_fills_exactly_its_box():
    probs = torch.ones(1, 1, 28, 28)
    out = paste_masks_in_image(probs, torch.tensor([[10.0, 10, 30, 20]]), 40, 50, 0.5)
    expected = np.zeros((1, 40, 50), dtype=bool)
    expected[0, 10:20, 10:30] = True
    assert out.dtype == torch.bool and np.array_equal(out.numpy(), expected)


def test_paste_matches_the_reference_algorithm_bit_for_bit():
    g = torch.Generator().manual_seed(3)
    probs = torch.rand(7, 1, 28, 28, generator=g)
    boxes = torch.tensor(
        [
            [3.3, 4.7, 80.2, 60.1],  # wider than 56 px: the window matters
            [0.0, 0.0, 120.0, 90.0],  # the whole image
            [100.5, 70.25, 140.0, 110.0],  # sticks out right and bottom
            [-10.0, -5.0, 20.0, 15.0],  # sticks out left and top
            [50.0, 50.0, 50.0, 60.0],  # zero width
            [130.0, 10.0, 150.0, 20.0],  # entirely outside
            [20.2, 30.7, 21.1, 31.9],  # tiny
        ]
    )
    out = paste_masks_in_image(probs, boxes, 90, 120, 0.5)
    assert np.array_equal(out.numpy(), _reference_paste(probs, boxes, 90, 120, 0.5))
    soft = paste_masks_in_image(probs[:2], boxes[:2], 90, 120, -1)
    assert soft.dtype == torch.uint8 and soft.max() > 1


def test_paste_of_many_boxes_of_every_size_matches_the_reference():
    """A crowded image: boxes from 1 to 200 px go to chunks of similar sizes; each mask is still
    the one-box-at-a-time reference's."""
    g = torch.Generator().manual_seed(5)
    n = 80
    xy = torch.rand(n, 2, generator=g) * 300 - 20
    wh = torch.rand(n, 2, generator=g) ** 2 * 200 + 0.5
    boxes = torch.cat([xy, xy + wh], dim=1)
    probs = torch.rand(n, 1, 28, 28, generator=g)
    out = paste_masks_in_image(probs, boxes, 240, 320, 0.5)
    assert np.array_equal(out.numpy(), _reference_paste(probs, boxes, 240, 320, 0.5))


def test_paste_in_small_chunks_gives_the_same_masks(monkeypatch):
    from detcli.models.roi_heads.mask_heads import mask_paste

    g = torch.Generator().manual_seed(4)
    probs = torch.rand(5, 1, 28, 28, generator=g)
    boxes = torch.tensor([[1.0, 2, 70, 40], [10.0, 10, 20, 20], [0.0, 0, 99, 79], [5.0, 50, 60, 79], [40.0, 1, 45, 9]])
    whole = paste_masks_in_image(probs, boxes, 80, 100)
    monkeypatch.setattr(mask_paste, "POINTS_PER_CHUNK", 500)
    assert torch.equal(paste_masks_in_image(probs, boxes, 80, 100), whole)


def test_get_seg_masks_rescale_and_class_lists():
    head = _head()
    logits = torch.full((3, 3, 28, 28), -20.0)
    logits[torch.arange(3), torch.tensor([2, 0, 2])] = 20.0  # each detection's own class is "on"
    boxes = torch.tensor([[20.0, 20, 60, 40, 0.9], [0.0, 0, 10, 10, 0.8], [40.0, 40, 80, 60, 0.7]])
    labels = torch.tensor([2, 0, 2])
    cfg = dict(mask_thr_binary=0.5)
    scale = np.array([2.0, 2.0, 2.0, 2.0], dtype=np.float32)
    # rescale: boxes live on the network input (x2) and are brought back to the 40x50 original
    segms = head.get_seg_masks(logits, boxes, labels, cfg, (40, 50, 3), scale, rescale=True)
    assert [len(c) for c in segms] == [1, 0, 2]
    assert segms[2][0].shape == (40, 50) and segms[2][0].dtype == bool
    assert segms[2][0].sum() == 20 * 10 and segms[2][0][10:20, 10:30].all()
    assert segms[0][0][:5, :5].all() and segms[0][0].sum() == 25
    # no rescale: masks cover the resized image (round(40 * 2), round(50 * 2))
    segms = head.get_seg_masks(logits, boxes, labels, cfg, (40, 50, 3), scale, rescale=False)
    assert segms[2][0].shape == (80, 100) and segms[2][0][20:40, 20:60].all() and segms[2][0].sum() == 800
    # a probability array (merged augmentations) is used as is, without a sigmoid
    probs = torch.sigmoid(logits).numpy()
    again = head.get_seg_masks(probs, boxes, labels, cfg, (40, 50, 3), scale, rescale=False)
    assert all(np.array_equal(a, b) for a, b in zip(again[2], segms[2]))
