"""Test-time-augmentation merging on hand-made cases, and the C4 shared head."""

from __future__ import annotations

import numpy as np
import torch

from detcli.models.test_time_augs import (
    merge_aug_bboxes,
    merge_aug_masks,
    merge_aug_proposals,
    merge_aug_scores,
)
from detcli.registry import SHARED_HEADS


def _meta(h, w, scale, flip=False, direction="horizontal"):
    return dict(img_shape=(h, w, 3), scale_factor=np.full(4, scale, dtype=np.float32), flip=flip,
                flip_direction=direction if flip else None)


def test_merge_aug_bboxes_maps_back_and_averages():
    # original image 100 x 150; aug 1 resized x2, aug 2 flipped at x1
    aug1 = torch.tensor([[10.0, 20.0, 30.0, 40.0]])  # -> [5, 10, 15, 20]
    aug2 = torch.tensor([[134.0, 10.0, 145.0, 22.0]])  # unflip in a 150-wide image -> [5, 10, 16, 22]
    metas = [[_meta(200, 300, 2.0)], [_meta(100, 150, 1.0, flip=True)]]
    scores = [torch.tensor([[0.2, 0.8]]), torch.tensor([[0.4, 0.6]])]
    boxes, merged_scores = merge_aug_bboxes([aug1, aug2], scores, metas, None)
    torch.testing.assert_close(boxes, torch.tensor([[5.0, 10.0, 15.5, 21.0]]))
    torch.testing.assert_close(merged_scores, torch.tensor([[0.3, 0.7]]))
    assert merge_aug_bboxes([aug1, aug2], None, metas).shape == (1, 4)


def test_merge_aug_bboxes_vertical_flip_and_class_boxes():
    boxes = torch.tensor([[0.0, 10.0, 4.0, 30.0, 1.0, 2.0, 3.0, 4.0]])  # two classes' boxes
    merged = merge_aug_bboxes([boxes], None, [[_meta(100, 50, 1.0, flip=True, direction="vertical")]])
    torch.testing.assert_close(merged, torch.tensor([[0.0, 70.0, 4.0, 90.0, 1.0, 96.0, 3.0, 98.0]]))


def test_merge_aug_masks_unflips_before_averaging():
    mask = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    metas = [[_meta(2, 3, 1.0)], [_meta(2, 3, 1.0, flip=True)], [_meta(2, 3, 1.0, flip=True, direction="diagonal")]]
    merged = merge_aug_masks([mask, mask[..., ::-1], mask[..., ::-1, ::-1]], metas, None)
    np.testing.assert_allclose(merged, mask)
    weighted = merge_aug_masks([mask, np.zeros_like(mask)], metas[:1] * 2, None, weights=[3, 1])
    np.testing.assert_allclose(weighted, mask * 0.75)


def test_merge_aug_scores():
    np.testing.assert_allclose(merge_aug_scores([np.ones(2), np.zeros(2)]), [0.5, 0.5])
    torch.testing.assert_close(merge_aug_scores([torch.ones(2), torch.zeros(2)]), torch.full((2,), 0.5))


def test_merge_aug_proposals_nms_and_top_k():
    # aug 1 at scale 2; aug 2 flipped at scale 1 (image 100 x 100)
    p1 = torch.tensor([[20.0, 20.0, 60.0, 60.0, 0.9], [100.0, 100.0, 140.0, 140.0, 0.3]])  # -> [10,10,30,30]
    p2 = torch.tensor([[70.0, 10.0, 90.0, 30.0, 0.8], [0.0, 0.0, 10.0, 10.0, 0.5]])  # first -> [10,10,30,30]
    metas = [_meta(200, 200, 2.0), _meta(100, 100, 1.0, flip=True)]
    cfg = dict(nms=dict(type="nms", iou_threshold=0.7), max_per_img=10)
    merged = merge_aug_proposals([p1, p2], metas, cfg)
    torch.testing.assert_close(
        merged,
        torch.tensor([[10.0, 10.0, 30.0, 30.0, 0.9], [90.0, 0.0, 100.0, 10.0, 0.5], [50.0, 50.0, 70.0, 70.0, 0.3]]),
    )
    # the old key names still work; max_num keeps the best
    legacy = merge_aug_proposals([p1, p2], metas, dict(nms_thr=0.7, max_num=1))
    torch.testing.assert_close(legacy, merged[:1])


def test_res_layer_shared_head():
    head = SHARED_HEADS.build(dict(type="ResLayer", depth=50, stage=3, norm_eval=True))
    keys = set(head.state_dict())
    assert "layer4.0.conv1.weight" in keys and "layer4.0.downsample.0.weight" in keys and "layer4.2.bn3.bias" in keys
    assert head.layer4[0].conv1.weight.shape == (512, 1024, 1, 1)
    with torch.no_grad():
        out = head(torch.randn(2, 1024, 14, 14))
    assert out.shape == (2, 2048, 7, 7)
    head.train()
    assert not head.layer4[0].bn1.training and head.layer4[0].conv1.training
    head.init_weights()  # Kaiming convs, BN weights 1
    assert torch.all(head.layer4[1].bn2.weight == 1)
