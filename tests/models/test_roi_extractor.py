"""SingleRoIExtractor: FPN level mapping, RoI rescaling and pooling, against hand values and torchvision."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align

from detcli.registry import ROI_EXTRACTORS

STRIDES = [4, 8, 16, 32]


def _extractor(**kwargs):
    cfg = dict(
        type="SingleRoIExtractor",
        roi_layer=dict(type="RoIAlign", output_size=7, sampling_ratio=0),
        out_channels=3,
        featmap_strides=STRIDES,
    )
    cfg.update(kwargs)
    return ROI_EXTRACTORS.build(cfg)


def _square_roi(side: float, x0: float = 2.0) -> list[float]:
    return [0.0, x0, x0, x0 + side, x0 + side]


def test_level_mapping_hand_cases():
    ext = _extractor()
    # sqrt(area) -> floor(log2(side / 56 + 1e-6)), clipped to [0, 3]
    sides_and_levels = [(10, 0), (56, 0), (111.9, 0), (112, 1), (223.9, 1), (224, 2), (448, 3), (1000, 3)]
    rois = torch.tensor([_square_roi(s) for s, _ in sides_and_levels])
    assert ext.map_roi_levels(rois, 4).tolist() == [lvl for _, lvl in sides_and_levels]
    # with two levels everything from 112 up lands on level 1
    assert ext.map_roi_levels(rois, 2).tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    # a non-square roi uses the geometric mean of its sides: 56x224 -> sqrt = 112 -> level 1
    assert ext.map_roi_levels(torch.tensor([[0.0, 0, 0, 56, 224]]), 4).tolist() == [1]


def test_finest_scale_changes_the_mapping():
    ext = _extractor(finest_scale=28)
    rois = torch.tensor([_square_roi(56), _square_roi(55)])
    assert ext.map_roi_levels(rois, 4).tolist() == [1, 0]


def test_roi_rescale_about_the_centre():
    ext = _extractor()
    rois = torch.tensor([[1.0, 10, 20, 30, 60]])
    assert ext.roi_rescale(rois, 2.0).tolist() == [[1.0, 0, 0, 40, 80]]
    assert ext.roi_rescale(rois, 0.5).tolist() == [[1.0, 15, 30, 25, 50]]


def test_state_dict_names_and_inputs():
    ext = _extractor()
    assert ext.num_inputs == 4
    assert [layer.spatial_scale for layer in ext.roi_layers] == [1 / s for s in STRIDES]
    assert len(ext.roi_layers) == 4


def _features(batch: int = 2):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, 3, 256 // s, 256 // s, generator=g) for s in STRIDES]


def test_forward_pools_each_roi_from_its_level():
    ext = _extractor()
    feats = _features()
    rois = torch.tensor(
        [
            [0.0, 5, 5, 40, 50],  # level 0
            [1.0, 10, 10, 160, 140],  # sqrt(150*130) ~ 140 -> level 1
            [0.0, 0, 0, 250, 250],  # 250 -> level 2
            [1.0, 3.5, 7.25, 20.5, 30.75],  # level 0, second image
        ]
    )
    out = ext(feats, rois)
    assert out.shape == (4, 3, 7, 7)
    for i, lvl in enumerate([0, 1, 2, 0]):
        expected = roi_align(feats[lvl], rois[i : i + 1], 7, 1 / STRIDES[lvl], 0, aligned=True)
        torch.testing.assert_close(out[i : i + 1], expected, rtol=0, atol=0)


def test_forward_with_roi_scale_factor_keeps_the_level_of_the_original_roi():
    ext = _extractor()
    feats = _features()
    rois = torch.tensor([[0.0, 50, 50, 150, 150]])  # side 100 -> level 0; x1.3 = 130 would be level 1
    out = ext(feats, rois, roi_scale_factor=1.3)
    enlarged = torch.tensor([[0.0, 35, 35, 165, 165]])
    expected = roi_align(feats[0], enlarged, 7, 1 / 4, 0, aligned=True)
    torch.testing.assert_close(out, expected)


def test_empty_rois_and_single_level():
    ext = _extractor()
    assert ext(_features(), torch.zeros(0, 5)).shape == (0, 3, 7, 7)
    single = _extractor(featmap_strides=[16])
    feats = _features()[2:3]
    rois = torch.tensor([[1.0, 10, 20, 200, 120]])
    torch.testing.assert_close(single(feats, rois), roi_align(feats[0], rois, 7, 1 / 16, 0, aligned=True))


def test_gradient_flows_to_features():
    ext = _extractor()
    feats = [f.requires_grad_() for f in _features()]
    ext(feats, torch.tensor([[0.0, 5, 5, 40, 50]])).sum().backward()
    assert feats[0].grad.abs().sum() > 0
    # levels without RoIs are still part of the graph (zero gradient, not None)
    assert all(f.grad is not None for f in feats)
    assert feats[3].grad.abs().sum() == 0


def test_inference_skips_the_zero_term_of_empty_levels_with_the_same_features():
    ext = _extractor()
    feats = _features()
    rois = torch.tensor([[0.0, 5, 5, 40, 50], [0.0, 1, 2, 9, 12]])  # only level 0: levels 1-3 stay empty
    with torch.no_grad():
        fast = ext(feats, rois)
    graph = ext([f.clone().requires_grad_() for f in feats], rois)
    assert graph.grad_fn is not None
    assert torch.equal(fast, graph.detach())


def test_bad_roi_layer_cfg_is_a_clear_error():
    from detcli.errors import DetError

    with pytest.raises(DetError, match="roi_layer"):
        _extractor(roi_layer="RoIAlign")
