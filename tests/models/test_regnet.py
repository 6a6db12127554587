"""RegNet against references recorded from mmdetection 2.28.2 (tests/fixtures/regnet/record_mmdet228.py):
state_dict keys and shapes of every arch, outputs of the same weights, and the shipped RegNet and
Cityscapes configs (merged dicts and built detectors)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from detcli.config import Config
from detcli.errors import ConfigError
from detcli.models import build_detector
from detcli.models.backbones import RegNet
from detcli.models.backbones.regnet import adjust_width_group, regnet_block_widths, stages_from_blocks
from detcli.models.backbones.resnext import Bottleneck

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "regnet"
SHAPES = json.loads(gzip.open(FIXTURES / "state_dict_shapes.json.gz", "rt").read())
CONFIGS = json.loads(gzip.open(FIXTURES / "mmdet228_configs.json.gz", "rt").read())


def _compat():
    spec = importlib.util.spec_from_file_location("mmdet_config_compat", REPO / "benchmarks" / "mmdet_config_compat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixtures_say_where_they_came_from():
    assert SHAPES["produced_by"].startswith("mmdetection 2.28.2")
    assert "mmdetection 2.28.2, mmcv 1.7.2" in CONFIGS["provenance"]
    assert set(SHAPES["archs"]) == set(RegNet.arch_settings) | {"tiny"} and len(RegNet.arch_settings) == 8


@pytest.mark.parametrize("arch", sorted(SHAPES["archs"]))
def test_state_dict_keys_and_shapes_equal_mmdetection(arch):
    with torch.device("meta"):
        model = RegNet(arch=SHAPES["tiny_arch"] if arch == "tiny" else arch)
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == SHAPES["archs"][arch]


def test_published_widths():
    # The FPN in_channels of mmdetection's RegNet configs are these stage widths.
    expected = {"regnetx_400mf": [32, 64, 160, 384], "regnetx_3.2gf": [96, 192, 432, 1008],
                "regnetx_12gf": [224, 448, 896, 2240]}
    for arch, widths in expected.items():
        with torch.device("meta"):
            assert RegNet(arch=arch).stage_widths == widths


def test_width_rule_by_hand():
    # w0=8, wa=8, wm=2, depth=6: continuous widths 8..48 snap to 8*2**round(log2(w/8)) = 8,16,32,32,32,64
    widths, stages = regnet_block_widths(8, 8.0, 2.0, 6)
    assert widths == [8, 16, 32, 32, 32, 64] and stages == 4
    assert stages_from_blocks(widths) == ([8, 16, 32, 64], [1, 1, 3, 1])
    # group width 24 does not divide 80: the bottleneck rounds to a multiple (72), groups cap at the width
    assert adjust_width_group([80, 16], [1.0, 1.0], [24, 24]) == ([72, 16], [24, 16])


def test_same_weights_same_outputs_as_mmdetection():
    ref = torch.load(FIXTURES / "tiny_outputs.pt", weights_only=True)
    assert "mmdetection 2.28.2" in ref["produced_by"]
    model = RegNet(arch=ref["arch"], out_indices=(0, 1, 2, 3))
    model.load_state_dict(ref["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        outs = model(ref["input"])
    assert len(outs) == 4
    for ours, theirs in zip(outs, ref["outputs"]):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_building_a_regnet_leaves_resnext_blocks_alone():
    RegNet(arch=SHAPES["tiny_arch"])
    assert Bottleneck.expansion == 4  # mmdetection 2.x mutates the shared class while building


def test_frozen_stages_and_norm_eval():
    model = RegNet(arch=SHAPES["tiny_arch"], frozen_stages=1)
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.norm1.training and not model.layer3[0].bn1.training  # norm_eval=True


def test_bad_arch_is_one_clear_error():
    with pytest.raises(ConfigError, match="unknown RegNet arch 'regnetx_3gf'") as info:
        RegNet(arch="regnetx_3gf")
    assert "regnetx_3.2gf" in info.value.hint
    with pytest.raises(ConfigError, match="lacks group_w"):
        RegNet(arch=dict(w0=8, wa=8.0, wm=2.0, depth=6, bot_mul=1.0))
    with pytest.raises(ConfigError, match="3 stages"):
        RegNet(arch=dict(w0=16, wa=8.0, wm=2.0, group_w=8, depth=6, bot_mul=1.0))


@pytest.mark.parametrize("name", sorted(CONFIGS["configs"]))
def test_shipped_config_matches_mmdetection(name):
    """Each shipped file merges to mmcv's dict of mmdetection's own file and builds the same state_dict."""
    compat = _compat()
    row = CONFIGS["configs"][name]
    cfg = Config.fromfile(REPO / "configs" / name)
    assert compat.first_difference(row["dict"], compat.encode(cfg.to_dict())) is None
    if "state_dict" in row:
        with torch.device("meta"):
            model = build_detector(cfg.model)
        assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == row["state_dict"]


def test_every_shipped_regnet_config_is_checked():
    shipped = {p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs" / "regnet").glob("*.py")}
    assert shipped and shipped <= set(CONFIGS["configs"])


def test_a_regnet_detector_trains_one_step():
    cfg = Config.fromfile(REPO / "configs" / "regnet" / "retinanet_regnetx-800MF_fpn_1x_coco.py")
    cfg.model.backbone.arch = SHAPES["tiny_arch"]
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = [8, 16, 32, 64]
    cfg.model.neck.out_channels = 16
    cfg.model.bbox_head.update(num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1)
    model = build_detector(cfg.model)
    model.init_weights()
    model.train()
    img = torch.randn(1, 3, 64, 64)
    metas = [dict(img_shape=(64, 64, 3), pad_shape=(64, 64, 3), ori_shape=(64, 64, 3), scale_factor=1.0,
                  flip=False, batch_input_shape=(64, 64))]
    losses = model.forward_train(img, metas, [torch.tensor([[4.0, 4.0, 40.0, 30.0]])], [torch.tensor([1])])
    total = sum(v if isinstance(v, torch.Tensor) else sum(v) for v in losses.values())
    total.backward()
    assert torch.isfinite(total)
    # zero_init_residual: the last BN of each block starts at 0, so the gradient reaches it and the shortcut
    assert torch.all(model.backbone.layer4[0].bn3.weight == 0)
    assert model.backbone.layer4[0].bn3.weight.grad.abs().sum() > 0
    assert model.backbone.layer4[0].downsample[0].weight.grad.abs().sum() > 0


def test_dcn_reaches_only_the_chosen_stages():
    """Deformable convolution replaces the 3x3 conv of every block in the stages of stage_with_dcn and
    of no other block (the mdconv RegNet config's state dict is checked against 2.28 above)."""
    tiny = SHAPES["tiny_arch"]
    dcn = dict(type="DCNv2", deform_groups=1, fallback_on_stride=False)
    plain = RegNet(arch=tiny, dcn=dcn, stage_with_dcn=(False, False, False, False))
    assert not any("conv_offset" in key for key in plain.state_dict())
    model = RegNet(arch=tiny, dcn=dcn, stage_with_dcn=(False, True, True, True))
    stages_with_offsets = {key.split(".")[0] for key in model.state_dict() if "conv2.conv_offset" in key}
    assert stages_with_offsets == {"layer2", "layer3", "layer4"}
    model.eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 40, 56))
    assert [tuple(o.shape[-2:]) for o in outs] == [tuple(o.shape[-2:]) for o in plain.eval()(torch.randn(1, 3, 40, 56))]
