"""``det flops``: counts checked against hand formulas and against mmcv's counter's recorded figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from detcli.cli import main
from detcli.errors import ConfigError
from detcli.tools.flops import count_model, format_params, input_shape_from, run_flops

ROOT = Path(__file__).resolve().parents[2]
RETINA_R18 = str(ROOT / "configs/shapes/retinanet_r18_fpn_shapes.py")
RETINA_R50 = str(ROOT / "configs/retinanet/retinanet_r50_fpn_1x_coco.py")
FASTER_R50 = str(ROOT / "configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py")


def _conv_params(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


class TinyBackbone(nn.Module):
    """conv(bias) -> BN -> ReLU -> max-pool -> conv(no bias) -> global pool -> linear(bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv1(x))))
        return self.fc(self.gap(self.conv2(x)).flatten(1))


def test_single_conv_counts_macs_plus_bias():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    report = count_model(conv, (3, 16, 20), forward="forward")
    out_elements = 8 * 16 * 20
    assert report.flops == out_elements * 3 * 3 * 3 + out_elements  # one MAC per kernel tap, one add per bias
    assert report.params == report.params_total == 8 * 3 * 3 * 3 + 8


@pytest.mark.parametrize("modulated", [False, True], ids=["DCN", "DCNv2"])
def test_deformable_conv_counts_as_the_conv_it_replaces(modulated):
    from detcli.models.layers import DeformConv2dPack, ModulatedDeformConv2dPack

    layer = (ModulatedDeformConv2dPack if modulated else DeformConv2dPack)(4, 8, 3, padding=1, deform_groups=2)
    report = count_model(layer, (4, 10, 12), forward="forward")
    out_elements = 10 * 12
    offsets = 2 * (3 if modulated else 2) * 9  # per deformable group: (dy, dx[, mask]) per kernel tap
    offset_conv = out_elements * offsets * (4 * 9 + 1)  # a plain conv with a bias
    assert report.flops == out_elements * 8 * 4 * 9 + offset_conv
    assert not any("deform_conv2d" in name for name in report.uncounted_ops)


def test_tiny_backbone_matches_hand_formula():
    model = TinyBackbone()
    h, w = 32, 24
    report = count_model(model, (3, h, w), forward="forward")
    conv1 = 8 * h * w * (3 * 9) + 8 * h * w
    bn = 2 * 8 * h * w  # affine: scale and shift per element
    relu = 8 * h * w
    pool = 8 * h * w  # one per input element
    ph, pw = h // 2, w // 2
    oh, ow = (ph + 1) // 2, (pw + 1) // 2
    conv2 = 16 * oh * ow * (8 * 9)  # no bias
    gap = 16 * oh * ow
    fc = 16 * 5  # multiply-adds only, as mmcv's linear counter
    assert report.flops == conv1 + bn + relu + pool + conv2 + gap + fc
    assert report.flops_by_operator["conv"] == conv1 + conv2
    assert report.flops_by_operator["batch_norm"] == bn
    by_name = {row.name: row for row in report.modules}
    assert by_name["conv2"].flops == conv2 and by_name["fc"].flops == fc


def test_params_are_the_trainable_ones_and_frozen_are_reported():
    model = TinyBackbone()
    for p in model.conv1.parameters():
        p.requires_grad = False
    expected_all = sum(p.numel() for p in model.parameters())
    frozen = 8 * 3 * 9 + 8
    report = count_model(model, (3, 8, 8), forward="forward")
    assert report.params_total == expected_all == _conv_params(3, 8, 3) + 16 + _conv_params(8, 16, 3, False) + 85
    assert report.params == expected_all - frozen
    assert report.params_frozen == frozen


def test_uncounted_operators_are_listed_not_hidden():
    class AddAndResize(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1, bias=False)

        def forward(self, x):
            y = self.conv(x)
            return F.interpolate(y, scale_factor=2.0, mode="nearest") + 1.0, torch.sigmoid(y)

    report = count_model(AddAndResize(), (2, 4, 4), forward="forward")
    assert report.flops == 2 * 4 * 4 * 2  # the 1x1 conv only
    assert set(report.uncounted_ops) >= {"aten::upsample_nearest2d", "aten::add", "aten::sigmoid"}


def test_model_without_the_forward_is_refused():
    with pytest.raises(ConfigError, match="forward_dummy"):
        count_model(nn.Conv2d(1, 1, 1), (1, 4, 4))


@pytest.mark.parametrize(("shape", "divisor", "requested", "padded"), [
    (None, 32, (3, 1280, 800), (3, 1280, 800)),
    ([1000, 600], 32, (3, 1000, 600), (3, 1024, 608)),
    ([500], 32, (3, 500, 500), (3, 512, 512)),
    ([1000, 600], -1, (3, 1000, 600), (3, 1000, 600)),
    ([1000, 600], 0, (3, 1000, 600), (3, 1000, 600)),
])
def test_input_shape_is_height_then_width_padded_up(shape, divisor, requested, padded):
    assert input_shape_from(shape, divisor) == (requested, padded)


def test_three_numbers_are_refused():
    with pytest.raises(ConfigError, match="one or two"):
        input_shape_from([3, 800, 600])


def test_param_formatting_follows_mmcv_units():
    assert format_params(37_743_348) == "37.74 M"
    assert format_params(12_500) == "12.50 k"
    assert format_params(310) == "310"


def test_retinanet_r50_params_equal_an_independent_count():
    """torchvision's ResNet-50 (stem and layer1 frozen by frozen_stages=1) + FPN and head by hand."""
    from torchvision.models import resnet50

    tv = resnet50(weights=None)
    frozen = sum(p.numel() for m in (tv.conv1, tv.bn1, tv.layer1) for p in m.parameters())
    backbone = sum(p.numel() for p in tv.parameters()) - sum(p.numel() for p in tv.fc.parameters()) - frozen
    fpn = (sum(_conv_params(c, 256, 1) for c in (512, 1024, 2048)) + 3 * _conv_params(256, 256, 3)
           + _conv_params(2048, 256, 3) + _conv_params(256, 256, 3))  # extra convs on the C5 input
    head = 8 * _conv_params(256, 256, 3) + _conv_params(256, 9 * 80, 3) + _conv_params(256, 9 * 4, 3)

    from detcli.tools.flops import build_model_for_counting

    model = build_model_for_counting(RETINA_R50)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == backbone + fpn + head == 37_743_348  # mmcv 1.7.2 reports 37743348 too (37.74 M)
    assert sum(p.numel() for p in model.parameters()) - trainable == frozen


@pytest.mark.slow
def test_retinanet_r50_flops_equal_mmcv_counter():
    # mmcv 1.7.2's get_model_complexity_info on mmdetection 2.28.2's RetinaNet R50-FPN, (3, 1280, 800):
    # 239316500520 FLOPs (printed as 239.32 GFLOPs, the model zoo's figure), 37743348 params.
    report = run_flops(RETINA_R50, max_depth=1)
    assert report.input_shape == (3, 1280, 800)
    assert report.flops == 239_316_500_520
    assert report.params == 37_743_348


@pytest.mark.slow
def test_faster_rcnn_r50_flops_differ_from_mmcv_by_functional_ops_only():
    # mmcv 1.7.2 on mmdetection 2.28.2's Faster R-CNN R50-FPN at (3, 1280, 800): 207065138100 FLOPs,
    # 41527712 params. mmcv's hooks see modules only, so it misses the RPN's functional ReLU (256
    # channels on each of the five levels) and the functional max-pool that makes FPN's P6 from P5.
    report = run_flops(FASTER_R50, max_depth=1)
    level_cells = sum(math.ceil(1280 / s) * math.ceil(800 / s) for s in (4, 8, 16, 32, 64))
    rpn_relu = 256 * level_cells
    p6_pool = 256 * (1280 // 32) * (800 // 32)
    assert report.flops == 207_065_138_100 + rpn_relu + p6_pool
    assert report.params == 41_527_712
    assert "1000 fixed proposals" in report.dummy_forward


def test_cli_prints_the_guide_block(capsys):
    assert main(["flops", RETINA_R18, "--shape", "60", "80", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index("Input shape: (3, 64, 96)")
    assert lines[start - 1] == "=" * 30 and lines[start + 3] == "=" * 30
    assert lines[start + 1].startswith("Flops: ") and lines[start + 1].endswith(" GFLOPs")
    assert lines[start + 2].startswith("Params: ") and lines[start + 2].endswith(" M")
    assert "Use size divisor set input shape from (3, 60, 80) to (3, 64, 96)" in out
    assert "backbone" in out and "bbox_head" in out  # the per-module table
    assert "Not counted: " in out and "aten::add" in out


def test_cli_json_parses_and_agrees_with_the_tool(capsys):
    assert main(["flops", RETINA_R18, "--shape", "64", "--json", "--depth", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    direct = run_flops(RETINA_R18, [64], max_depth=1)
    assert data["input_shape"] == [3, 64, 64]
    assert data["flops"] == direct.flops > 0
    assert data["params"] == direct.params == data["params_total"]  # frozen_stages=-1: all params train
    assert {row["name"] for row in data["modules"]} == {"model", "backbone", "neck", "bbox_head"}
    assert data["flops_by_operator"]["conv"] <= data["flops"]


def test_an_untraceable_forward_is_one_clear_error():
    class ReturnsANumber(nn.Module):
        def forward(self, x):
            return x, 3

    with pytest.raises(ConfigError, match=r"cannot trace ReturnsANumber\.forward\(\) to count its FLOPs: .*tracer"):
        count_model(ReturnsANumber(), (1, 2, 2), forward="forward")
