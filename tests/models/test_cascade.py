"""Cascade R-CNN / Cascade Mask R-CNN / HTC on tiny models: losses per stage, what inference combines."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cascade_toys import NUM_CLASSES, build, cascade_cfg, meta, train_batch  # noqa: E402

from detcli.errors import ConfigError  # noqa: E402


def _sum(value) -> torch.Tensor:
    return value.sum() if isinstance(value, torch.Tensor) else sum(v.sum() for v in value)


@pytest.mark.parametrize(("kind", "with_mask", "semantic"),
                         [("cascade", False, False), ("cascade", True, False), ("htc", True, False), ("htc", True, True)])
def test_training_losses_per_stage(kind, with_mask, semantic):
    torch.manual_seed(0)
    model = build(cascade_cfg(kind, with_mask, semantic)).train()
    losses = model(return_loss=True, **train_batch(with_mask, semantic))
    stage_keys = {f"s{i}.{k}" for i in range(3) for k in ("loss_cls", "acc", "loss_bbox")}
    if with_mask:
        stage_keys |= {f"s{i}.loss_mask" for i in range(3)}
    expected = {"loss_rpn_cls", "loss_rpn_bbox"} | stage_keys | ({"loss_semantic_seg"} if semantic else set())
    assert set(losses) == expected
    total, _ = model._parse_losses(losses)
    total.backward()
    for i in range(3):  # every stage learns
        assert model.roi_head.bbox_head[i].fc_cls.weight.grad.abs().sum() > 0
        if with_mask:
            assert model.roi_head.mask_head[i].conv_logits.weight.grad.abs().sum() > 0
    if semantic:
        assert model.roi_head.semantic_head.conv_logits.weight.grad.abs().sum() > 0


def test_stage_loss_weights_scale_losses_not_metrics():
    cfg = cascade_cfg("cascade", with_mask=True)
    flat = copy.deepcopy(cfg)
    flat["roi_head"]["stage_loss_weights"] = [1, 1, 1]
    torch.manual_seed(3)
    model = build(flat).train()
    state = copy.deepcopy(model.state_dict())
    torch.manual_seed(4)
    plain = model(return_loss=True, **train_batch(True))
    weighted_model = build(cfg).train()
    weighted_model.load_state_dict(state)
    torch.manual_seed(4)
    weighted = weighted_model(return_loss=True, **train_batch(True))
    for stage, weight in ((0, 1.0), (1, 0.5), (2, 0.25)):
        for name in ("loss_cls", "loss_bbox", "loss_mask"):
            key = f"s{stage}.{name}"
            torch.testing.assert_close(_sum(weighted[key]), weight * _sum(plain[key]))
        torch.testing.assert_close(weighted[f"s{stage}.acc"], plain[f"s{stage}.acc"])


def _with_constant_heads(model, cls_biases, reg_bias=None, mask_biases=None):
    """Heads whose outputs ignore the features: fixed logits / deltas per stage."""
    with torch.no_grad():
        for i, head in enumerate(model.roi_head.bbox_head):
            head.fc_cls.weight.zero_()
            head.fc_cls.bias.copy_(torch.tensor(cls_biases[i]))
            head.fc_reg.weight.zero_()
            head.fc_reg.bias.copy_(torch.tensor(reg_bias[i]) if reg_bias is not None else torch.zeros(4))
        if mask_biases is not None:
            for i, head in enumerate(model.roi_head.mask_head):
                head.conv_logits.weight.zero_()
                head.conv_logits.bias.fill_(mask_biases[i])
    return model


def _features(model, h=96, w=128):
    img = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    return model.extract_feat(img)


def test_test_scores_are_the_softmax_of_the_stage_mean_logits():
    model = build(cascade_cfg("cascade")).eval()
    biases = [[2.0, -1.0, 0.0], [-1.0, 3.0, 0.0], [0.5, 0.5, 1.0]]
    _with_constant_heads(model, biases)
    proposals = [torch.tensor([[10.0, 10.0, 50.0, 60.0, 0.9], [60.0, 20.0, 120.0, 90.0, 0.8]])]
    with torch.no_grad():
        result = model.roi_head.simple_test(_features(model), proposals, [meta()], rescale=False)[0]
    expected = torch.tensor(biases).mean(0).softmax(0)  # mean of logits, not of probabilities
    for cls in range(NUM_CLASSES):
        assert len(result[cls]) == 2
        np.testing.assert_allclose(result[cls][:, 4], expected[cls].item(), rtol=1e-5)
    # the boxes did not move: zero deltas at every stage
    np.testing.assert_allclose(np.sort(result[0][:, :4], axis=0), np.sort(proposals[0][:, :4].numpy(), axis=0),
                               atol=1e-4)


def test_each_stage_regresses_the_previous_stage_boxes():
    model = build(cascade_cfg("cascade")).eval()
    stds = [0.1, 0.05, 0.033]
    shift = 0.05  # each stage moves a box right by 5 % of its width
    _with_constant_heads(model, [[5.0, 0.0, 0.0]] * 3, reg_bias=[[shift / s, 0.0, 0.0, 0.0] for s in stds])
    proposals = [torch.tensor([[20.0, 20.0, 60.0, 50.0, 1.0]])]
    with torch.no_grad():
        result = model.roi_head.simple_test(_features(model), proposals, [meta()], rescale=False)[0]
    box = result[0][0, :4]
    moved = 3 * shift * 40.0  # three stages, width 40
    np.testing.assert_allclose(box, [20.0 + moved, 20.0, 60.0 + moved, 50.0], atol=1e-3)


def test_masks_average_the_stage_probabilities():
    """Stage mask logits 1, 1, -3: probabilities average to 0.503 (a full mask); averaging the logits
    (-0.33) or using the last stage alone (-3) would give empty masks."""
    model = build(cascade_cfg("cascade", with_mask=True)).eval()
    _with_constant_heads(model, [[5.0, 0.0, 0.0]] * 3, mask_biases=[1.0, 1.0, -3.0])
    proposals = [torch.tensor([[20.0, 20.0, 60.0, 50.0, 1.0]])]
    with torch.no_grad():
        bbox_result, segm_result = model.roi_head.simple_test(_features(model), proposals, [meta()], rescale=True)[0]
    assert len(bbox_result[0]) == 1 and len(segm_result[0]) == 1
    mask = segm_result[0][0]
    assert mask.shape == (96, 128)
    assert mask[22:48, 22:58].all()  # the box, its blurred one-pixel rim aside
    outside = mask.copy()
    outside[19:51, 19:61] = False
    assert not outside.any()
    _with_constant_heads(model, [[5.0, 0.0, 0.0]] * 3, mask_biases=[0.0, 0.0, -2.0])  # mean probability 0.37
    with torch.no_grad():
        _, segm_result = model.roi_head.simple_test(_features(model), proposals, [meta()], rescale=True)[0]
    assert not segm_result[0][0].any()


@pytest.mark.parametrize(("kind", "with_mask"), [("cascade", False), ("cascade", True), ("htc", True)])
def test_inference_formats_plain_and_flip_augmented(kind, with_mask):
    model = build(cascade_cfg(kind, with_mask)).eval()
    img = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = model(return_loss=False, rescale=True, img=[img], img_metas=[[meta()]])
        aug = model(return_loss=False, rescale=True, img=[img, img.flip(-1)], img_metas=[[meta()], [meta(flip=True)]])
    for results in (plain, aug):
        assert len(results) == 1
        bbox_result, segm_result = results[0] if with_mask else (results[0], None)
        assert len(bbox_result) == NUM_CLASSES
        assert all(r.dtype == np.float32 and r.shape[1] == 5 for r in bbox_result)
        assert sum(len(r) for r in bbox_result) > 0
        boxes = np.concatenate(bbox_result)
        assert boxes[:, [0, 2]].min() >= 0 and boxes[:, [0, 2]].max() <= 128
        if with_mask:
            assert [len(s) for s in segm_result] == [len(b) for b in bbox_result]
            assert all(m.shape == (96, 128) and m.dtype == bool for s in segm_result for m in s)


def test_no_proposals_give_empty_results():
    model = build(cascade_cfg("htc")).eval()
    with torch.no_grad():
        results = model.roi_head.simple_test(_features(model), [torch.zeros(0, 5)], [meta()], rescale=True)
    bbox_result, segm_result = results[0]
    assert [r.shape for r in bbox_result] == [(0, 5)] * NUM_CLASSES and segm_result == [[], []]


def test_config_mistakes_are_one_clear_error():
    cfg = cascade_cfg("cascade")
    bad = copy.deepcopy(cfg)
    bad["roi_head"]["stage_loss_weights"] = [1, 0.5]
    with pytest.raises(ConfigError, match="stage_loss_weights"):
        build(bad)
    bad = copy.deepcopy(cfg)
    bad["train_cfg"]["rcnn"] = bad["train_cfg"]["rcnn"][:2]
    with pytest.raises(ConfigError, match="train_cfg.rcnn has 2 entries"):
        build(bad)
    bad = copy.deepcopy(cfg)
    bad["roi_head"]["bbox_head"] = bad["roi_head"]["bbox_head"][:2]
    with pytest.raises(ConfigError, match="bbox_head has 2 entries"):
        build(bad)
    semantic = cascade_cfg("htc", semantic=True)
    model = build(semantic).train()
    batch = train_batch(True)  # no gt_semantic_seg
    with pytest.raises(ConfigError, match="gt_semantic_seg"):
        model(return_loss=True, **batch)


@pytest.mark.parametrize("name", ["cascade_rcnn_tiny", "cascade_mask_rcnn_tiny"])
def test_init_detector_and_inference_detector_reproduce_mmdetection(name):
    """The user's path (``init_detector`` keeps CPU models channels-last) on the references of
    ``tests/fixtures/models`` made by mmdetection 2.28's ``inference_detector``."""
    import json

    from pycocotools import mask as mask_utils
    from reference_fixtures import match_boxes
    from test_faster_rcnn_fixture import _masks_agree

    from detcli.apis import inference_detector, init_detector

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "models" / name
    model = init_detector(str(fixture / "config.py"), str(fixture / "model.pth"), device="cpu")
    assert model.CLASSES == ("alpha", "beta", "gamma")
    result = inference_detector(model, str(fixture / "inputs" / "shapes.png"))
    expected = json.loads((fixture / "outputs.json").read_text())["images"]["shapes.png"]
    bbox_result, segm_result = result if isinstance(result, tuple) else (result, None)
    matched = total = masks_ok = 0
    for cls, ref_boxes in enumerate(expected["bboxes"]):
        ref = np.asarray(ref_boxes, dtype=np.float64).reshape(-1, 5)
        found = match_boxes(ref, np.asarray(bbox_result[cls], dtype=np.float64))
        total += len(ref)
        matched += int((found >= 0).sum())
        for i, j in enumerate(found):
            if segm_result is not None and j >= 0:
                rle = dict(expected["masks"][cls][i], counts=expected["masks"][cls][i]["counts"].encode())
                masks_ok += int(_masks_agree(mask_utils.decode(rle).astype(bool), segm_result[cls][j]))
    assert matched == total == 100
    assert masks_ok == (100 if segm_result is not None else 0)
