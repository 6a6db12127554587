"""The torchvision side of benchmarks/vs_torchvision.py mirrors the shapes config it is compared with."""

from __future__ import annotations

import argparse
import copy
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from detcli.engine.hooks.lr_updater import StepLrUpdaterHook

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("vs_torchvision", ROOT / "benchmarks" / "vs_torchvision.py")
vt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vt)


@pytest.fixture(scope="module")
def cfg():
    return vt.load_cfg(argparse.Namespace(config=vt.CONFIG, data=Path("/nonexistent/shapes"), epochs=0))


def test_torchvision_model_takes_the_configs_settings(cfg):
    model = vt.build_torchvision(cfg)
    m, train_cfg = cfg.model, cfg.model.train_cfg
    assert model.backbone.body.conv1.out_channels == m.backbone.base_channels == 32
    assert model.backbone.body.layer4[-1].conv2.out_channels == 8 * m.backbone.base_channels
    assert model.backbone.out_channels == m.neck.out_channels
    strides = m.rpn_head.anchor_generator.strides
    assert model.rpn.anchor_generator.sizes == tuple((8 * s,) for s in strides)
    assert model.rpn.anchor_generator.aspect_ratios[0] == tuple(m.rpn_head.anchor_generator.ratios)
    assert model.rpn.fg_bg_sampler.batch_size_per_image == train_cfg.rpn.sampler.num
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == train_cfg.rcnn.sampler.num == 64
    assert model.roi_heads.fg_bg_sampler.positive_fraction == train_cfg.rcnn.sampler.pos_fraction
    assert model.rpn._pre_nms_top_n["training"] == train_cfg.rpn_proposal.nms_pre
    assert model.rpn._post_nms_top_n["testing"] == cfg.model.test_cfg.rpn.max_per_img
    assert model.roi_heads.box_coder.weights == (10.0, 10.0, 5.0, 5.0)
    assert model.transform.min_size == (320,) and model.transform.max_size == 320
    assert model.roi_heads.box_predictor.cls_score.out_features == m.roi_head.bbox_head.num_classes + 1


def test_torchvision_loop_follows_detclis_step_schedule_with_warmup(cfg):
    lr_cfg = dict(cfg.lr_config)
    assert lr_cfg.pop("policy") == "step"
    hook = StepLrUpdaterHook(**lr_cfg)
    base = cfg.optimizer.lr
    for epoch, it in [(0, 0), (0, 1), (0, 57), (0, 199), (0, 200), (1, 450), (2, 899), (3, 900), (3, 1199)]:
        regular = hook.get_lr(SimpleNamespace(epoch=epoch, iter=it), base)
        hook.regular_lr = [regular]
        expected = hook.get_warmup_lr(it)[0] if it < hook.warmup_iters else regular
        assert vt.lr_at(cfg, epoch, it) == pytest.approx(expected, rel=1e-12), (epoch, it)
    assert vt.lr_at(cfg, 3, 1000) == pytest.approx(base * 0.1)


def test_narrow_torchvision_resnet18_is_initialised_like_torchvisions(cfg):
    torch.manual_seed(0)
    net = vt.torchvision_resnet18(32, zero_init_residual=True)
    assert [getattr(net, f"layer{i}")[0].conv1.out_channels for i in range(1, 5)] == [32, 64, 128, 256]
    assert all(float(block.bn2.weight.detach().abs().sum()) == 0 for i in range(1, 5) for block in getattr(net, f"layer{i}"))
    assert float(net.bn1.weight.detach().mean()) == 1.0


def test_box_head_linears_start_from_the_same_distribution_on_both_sides(cfg):
    """The config initialises its box head as torch.nn.Linear does, which is what torchvision's
    TwoMLPHead and FastRCNNPredictor keep: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights."""
    from detcli.models import build_detector

    torch.manual_seed(0)
    ours = build_detector(cfg.model)
    ours.init_weights()
    theirs = vt.build_torchvision(cfg).roi_heads
    head = ours.roi_head.bbox_head
    pairs = [(head.shared_fcs[0], theirs.box_head.fc6), (head.shared_fcs[1], theirs.box_head.fc7),
             (head.fc_cls, theirs.box_predictor.cls_score), (head.fc_reg, theirs.box_predictor.bbox_pred)]
    for detcli_fc, tv_fc in pairs:
        assert detcli_fc.in_features == tv_fc.in_features
        bound = detcli_fc.in_features**-0.5
        for fc in (detcli_fc, tv_fc):
            weight = fc.weight.detach()
            assert 0.9 * bound < float(weight.abs().max()) <= bound
            assert float(weight.std()) == pytest.approx(bound / 3**0.5, rel=0.15)


def test_a_config_with_2x_box_head_init_gets_it_mirrored_on_torchvisions_side(cfg):
    cfg = copy.deepcopy(cfg)
    torch.manual_seed(0)
    default = vt.build_torchvision(cfg).roi_heads
    cfg.model.roi_head.bbox_head.init_cfg = None
    mirrored = vt.build_torchvision(cfg).roi_heads
    assert float(mirrored.box_predictor.cls_score.weight.detach().std()) == pytest.approx(0.01, rel=0.15)
    assert float(mirrored.box_predictor.bbox_pred.weight.detach().std()) == pytest.approx(0.001, rel=0.15)
    assert float(mirrored.box_head.fc6.bias.detach().abs().max()) == 0.0
    fan = mirrored.box_head.fc6.in_features + mirrored.box_head.fc6.out_features
    assert float(mirrored.box_head.fc6.weight.detach().abs().max()) == pytest.approx((6 / fan) ** 0.5, rel=0.02)
    assert float(default.box_predictor.bbox_pred.weight.detach().std()) > 10 * 0.001
    cfg.model.roi_head.bbox_head.init_cfg = dict(type="Normal", std=0.02, layer="Linear")
    with pytest.raises(ValueError, match="cannot mirror"):
        vt.build_torchvision(cfg)
