"""Score filtering and NMS on hand-made cases."""

from __future__ import annotations

import pytest
import torch

from detcli.errors import ConfigError
from detcli.models.post_processing import batched_nms, filter_scores_and_topk, multiclass_nms

NMS = dict(type="nms", iou_threshold=0.5)
# box 1 overlaps box 0 with IoU exactly 0.5; box 2 overlaps box 0 with IoU 0.6; box 3 is far away
BOXES = torch.tensor([[0.0, 0, 30, 10], [10, 0, 40, 10], [0, 0, 30, 6], [100, 100, 110, 110]])
SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6])


def test_suppression_is_strictly_above_the_threshold():
    dets, keep = batched_nms(BOXES, SCORES, torch.zeros(4, dtype=torch.long), NMS)
    assert keep.tolist() == [0, 1, 3]  # IoU 0.5 survives, IoU 0.6 does not
    torch.testing.assert_close(dets, torch.cat([BOXES[[0, 1, 3]], SCORES[[0, 1, 3], None]], dim=1))


def test_groups_are_kept_apart_unless_class_agnostic():
    idxs = torch.tensor([0, 0, 1, 0])
    assert batched_nms(BOXES, SCORES, idxs, NMS)[1].tolist() == [0, 1, 2, 3]
    assert batched_nms(BOXES, SCORES, idxs, NMS, class_agnostic=True)[1].tolist() == [0, 1, 3]
    assert batched_nms(BOXES, SCORES, idxs, dict(NMS, class_agnostic=True))[1].tolist() == [0, 1, 3]


def test_split_path_legacy_keys_offset_and_sorting_only():
    idxs = torch.tensor([0, 1, 0, 1])
    default = batched_nms(BOXES, SCORES, idxs, NMS)
    split = batched_nms(BOXES, SCORES, idxs, dict(NMS, split_thr=2))
    assert default[1].tolist() == split[1].tolist() == [0, 1, 3]
    torch.testing.assert_close(default[0], split[0])
    assert batched_nms(BOXES, SCORES, idxs, dict(type="nms", iou_thr=0.5))[1].tolist() == [0, 1, 3]
    # +1 sizes: IoU(0, 1) = 21 * 11 / (2 * 31 * 11 - 21 * 11) = 0.512 > 0.5
    assert batched_nms(BOXES[:2], SCORES[:2], torch.zeros(2, dtype=torch.long),
                       dict(NMS, offset=1))[1].tolist() == [0]
    dets, inds = batched_nms(BOXES, SCORES.flip(0), idxs, None)
    assert inds.tolist() == [3, 2, 1, 0] and dets[0, 4].item() == pytest.approx(0.9)
    assert batched_nms(BOXES, SCORES, idxs, dict(NMS, max_num=1))[1].tolist() == [0]


def test_bad_nms_configs_fail_clearly():
    with pytest.raises(ConfigError, match="soft_nms"):
        batched_nms(BOXES, SCORES, torch.zeros(4), dict(type="soft_nms", iou_threshold=0.5))
    with pytest.raises(ConfigError, match="iou_threshold"):
        batched_nms(BOXES, SCORES, torch.zeros(4), dict(type="nms"))


def test_multiclass_nms_thresholds_before_score_factors():
    boxes = BOXES
    # columns: class 0, class 1, background
    scores = torch.tensor([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    dets, labels = multiclass_nms(boxes, scores, 0.25, NMS)
    assert labels.tolist() == [0, 0, 1, 0, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.8, 0.7, 0.3, 0.3]))
    factors = torch.tensor([1.0, 0.1, 1.0, 0.5])
    dets, labels, inds = multiclass_nms(boxes, scores, 0.25, NMS, max_num=3, score_factors=factors,
                                        return_inds=True)
    # box 1 passes the 0.25 threshold on its own score, then drops to 0.08
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.15]))
    assert inds.tolist() == [0, 5, 6]  # flat box * num_classes + class
    empty_dets, empty_labels = multiclass_nms(boxes, scores, 0.95, NMS)
    assert empty_dets.shape == (0, 5) and empty_labels.numel() == 0


def test_multiclass_nms_with_class_specific_boxes():
    boxes = torch.cat([BOXES, BOXES + 1], dim=1)  # (n, 4 * 2 classes)
    scores = torch.tensor([[0.9, 0.6, 0.0], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8]])
    dets, labels = multiclass_nms(boxes, scores, 0.3, NMS)
    assert labels.tolist() == [0, 1]
    torch.testing.assert_close(dets[1, :4], BOXES[0] + 1)


def test_filter_scores_and_topk():
    scores = torch.tensor([[0.1, 0.9], [0.6, 0.3], [0.05, 0.02]])
    kept, labels, anchors, extra = filter_scores_and_topk(scores, 0.2, 2, dict(x=torch.arange(3)))
    assert kept.tolist() == pytest.approx([0.9, 0.6])
    assert labels.tolist() == [1, 0] and anchors.tolist() == [0, 1] and extra["x"].tolist() == [0, 1]
    kept, *_ = filter_scores_and_topk(scores, 0.2, -1)
    assert len(kept) == 3  # -1: no top-k limit


def test_tied_scores_keep_the_order_of_torchs_default_sort():
    # 40 disjoint boxes with three distinct scores: nothing is suppressed, so the kept order is
    # the sort order alone. mmdetection 2.x resolves ties with torch's default (unstable) sort,
    # which for this input differs from the stable order torchvision's nms would use.
    torch.manual_seed(0)
    scores = (torch.rand(40) * 3).floor() / 3
    x = torch.arange(40, dtype=torch.float32) * 10
    boxes = torch.stack([x, torch.zeros(40), x + 5, torch.full((40,), 5.0)], dim=1)
    expected = scores.sort(0, descending=True)[1]
    assert not torch.equal(expected, scores.sort(dim=0, descending=True, stable=True)[1])
    dets, keep = batched_nms(boxes, scores, torch.zeros(40, dtype=torch.long), dict(type="nms", iou_threshold=0.5))
    assert torch.equal(keep, expected)
    assert torch.equal(dets[:, :4], boxes[expected])


@pytest.mark.parametrize("score_threshold", [0.0, 0.3])
def test_cpu_per_group_nms_gives_the_one_call_result(monkeypatch, score_threshold):
    """Many boxes in a few groups (RPN levels): per-group calls keep the same boxes in the same order."""
    import detcli.models.post_processing as pp

    g = torch.Generator().manual_seed(0)
    n = 3000
    xy = torch.rand(n, 2, generator=g) * 300
    wh = torch.rand(n, 2, generator=g) * 60 + 4
    boxes = torch.cat([xy, xy + wh], 1)
    scores = (torch.rand(n, generator=g) * 20).round() / 20  # many exact ties
    idxs = torch.randint(0, 5, (n,), generator=g)
    cfg = dict(type="nms", iou_threshold=0.6, score_threshold=score_threshold, max_num=700)

    monkeypatch.setattr(pp, "CPU_GROUPED_NMS_MIN_BOXES", 10**9)
    calls = []
    real_nms = pp.tv_nms
    monkeypatch.setattr(pp, "tv_nms", lambda *a: calls.append(1) or real_nms(*a))
    one_dets, one_keep = batched_nms(boxes, scores, idxs, cfg)
    assert len(calls) == 1
    monkeypatch.setattr(pp, "CPU_GROUPED_NMS_MIN_BOXES", 1000)
    grouped_dets, grouped_keep = batched_nms(boxes, scores, idxs, cfg)
    assert len(calls) == 1 + 5
    assert 100 < len(one_keep) <= 700
    assert torch.equal(one_keep, grouped_keep) and torch.equal(one_dets, grouped_dets)


def test_sorted_top_k_is_the_sort_prefix_with_and_without_ties():
    from detcli.models.post_processing import sorted_top_k

    g = torch.Generator().manual_seed(0)
    distinct = torch.rand(5000, generator=g)
    tied = (torch.rand(5000, generator=g) * 50).round() / 50
    for scores in (distinct, tied, torch.ones(40)):
        for k in (1, 7, 300, len(scores)):
            want_v, want_i = scores.sort(descending=True)
            got_v, got_i = sorted_top_k(scores, k)
            assert torch.equal(got_v, want_v[:k]) and torch.equal(got_i, want_i[:k]), (k, len(scores))
