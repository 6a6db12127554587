"""``det upgrade-ckpt``: 1.x-style checkpoints made by renaming detcli models backwards, then upgraded.

The backward mapping below is written from the documented 1.x -> 2.x changes (heads under
``roi_head``, background class first in softmax classifiers, background outputs in
class-specific regression and mask logits, plain convolutions in old RetinaNet towers).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.cli import main
from detcli.errors import CheckpointError
from detcli.tools.flops import build_model_for_counting
from detcli.tools.upgrade_checkpoint import parse_version, upgrade_checkpoint, upgrade_state_dict

ROOT = Path(__file__).resolve().parents[2]
FASTER = str(ROOT / "configs/shapes/faster_rcnn_r18_fpn_shapes.py")
MASK = str(ROOT / "configs/shapes/mask_rcnn_r18_fpn_shapes.py")
RETINA = str(ROOT / "configs/shapes/retinanet_r18_fpn_shapes.py")


def to_1x(state: dict[str, torch.Tensor], num_classes: int, plain_towers: bool = False) -> OrderedDict:
    """A 2.x state_dict in mmdetection 1.x form; ``num_classes`` counts the background."""
    gen = torch.Generator().manual_seed(1)
    out = OrderedDict()
    for key, value in state.items():
        old = key[len("roi_head."):] if key.startswith("roi_head.") else key
        if re.search(r"fc_cls\.(weight|bias)$", old) and value.shape[0] == num_classes:
            value = torch.cat([value[-1:], value[:-1]])  # background row back to the front
        elif re.search(r"fc_reg\.(weight|bias)$", old) and value.shape[0] == 4 * (num_classes - 1):
            value = torch.cat([torch.randn((4, *value.shape[1:]), generator=gen), value])
        elif re.search(r"conv_logits\.(weight|bias)$", old) and value.shape[0] == num_classes - 1:
            value = torch.cat([torch.randn((1, *value.shape[1:]), generator=gen), value])
        if plain_towers:
            old = re.sub(r"^(bbox_head\.(cls|reg)_convs\.\d+)\.conv\.", r"\1.", old)
        out[old] = value
    return out


def _model_state(config: str) -> OrderedDict:
    model = build_model_for_counting(config)
    with torch.no_grad():  # distinct values everywhere, so a misplaced row cannot go unnoticed
        for i, p in enumerate(model.state_dict().values()):
            if p.is_floating_point():
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(i)))
    return OrderedDict((k, v.clone()) for k, v in model.state_dict().items())


def _save_1x(path: Path, state: OrderedDict, version: str = "1.0.0", **meta) -> str:
    torch.save({"meta": {"mmdet_version": version, "config": "# a 1.x config", **meta}, "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.02, "params": [0, 1]}]}}, path)
    return str(path)


@pytest.mark.parametrize("config", [FASTER, MASK], ids=["faster_rcnn", "mask_rcnn"])
def test_two_stage_round_trip(tmp_path, config):
    state = _model_state(config)
    classes = state["roi_head.bbox_head.fc_cls.weight"].shape[0]  # num_classes + background
    old = to_1x(state, classes)
    assert "bbox_head.fc_cls.weight" in old and not any(k.startswith("roi_head.") for k in old)
    report = upgrade_checkpoint(_save_1x(tmp_path / "old.pth", old), str(tmp_path / "new.pth"), config=config)

    new = torch.load(tmp_path / "new.pth", weights_only=True)
    assert list(new["state_dict"]) == list(state)
    for key, value in state.items():
        assert torch.equal(new["state_dict"][key], value), key
    fc_cls = new["state_dict"]["roi_head.bbox_head.fc_cls.weight"]
    assert torch.equal(fc_cls[-1], old["bbox_head.fc_cls.weight"][0])  # 1.x background row is now last
    assert torch.equal(new["state_dict"]["roi_head.bbox_head.fc_reg.weight"], old["bbox_head.fc_reg.weight"][4:])
    assert report.num_classes == classes
    assert "roi_head.bbox_head.fc_cls.weight" in report.reordered
    assert "optimizer" not in new and new["meta"]["upgraded_from"] == {"mmdet_version": "1.0.0",
                                                                       "num_classes": classes}
    if config == MASK:
        assert "roi_head.mask_head.conv_logits.weight" in report.truncated


def test_retinanet_sigmoid_classifier_is_untouched_and_old_towers_renamed(tmp_path):
    state = _model_state(RETINA)
    old = to_1x(state, 81, plain_towers=True)
    assert "bbox_head.cls_convs.0.weight" in old
    upgrade_checkpoint(_save_1x(tmp_path / "old.pth", old, version="0.5.3"), str(tmp_path / "new.pth"),
                       config=RETINA)
    new = torch.load(tmp_path / "new.pth", weights_only=True)["state_dict"]
    assert list(new) == list(state)
    assert all(torch.equal(new[k], v) for k, v in state.items())


def test_class_rows_move_per_group_and_background_outputs_drop():
    rows = torch.arange(6.0)[:, None]
    state = OrderedDict([
        ("rpn_head.rpn_cls.weight", torch.arange(3.0)[:, None]),
        ("bbox_head.fc_cls.weight", torch.arange(3.0)[:, None]),  # bg, a, b
        ("bbox_head.fc_cls.bias", torch.arange(3.0)),
        ("bbox_head.fc_reg.bias", torch.arange(12.0)),  # 4 per class, background first
        ("mask_head.conv_logits.bias", torch.arange(3.0)),
    ])
    new, report = upgrade_state_dict(state)
    assert report.num_classes == 3  # read from fc_cls
    assert new["roi_head.bbox_head.fc_cls.weight"].flatten().tolist() == [1, 2, 0]
    assert new["roi_head.bbox_head.fc_cls.bias"].tolist() == [1, 2, 0]
    assert new["roi_head.bbox_head.fc_reg.bias"].tolist() == list(range(4, 12))
    assert new["roi_head.mask_head.conv_logits.bias"].tolist() == [1, 2]
    assert new["rpn_head.rpn_cls.weight"].flatten().tolist() == [0, 1, 2]  # sigmoid: no background

    ssd = OrderedDict([("bbox_head.cls_convs.0.weight", rows), ("bbox_head.cls_convs.0.bias", rows[:, 0]),
                       ("bbox_head.reg_convs.0.weight", torch.zeros(8, 1))])
    new, _ = upgrade_state_dict(ssd, num_classes=3)  # two anchors of (bg, a, b)
    assert new["bbox_head.cls_convs.0.bias"].tolist() == [1, 2, 0, 4, 5, 3]
    assert new["bbox_head.cls_convs.0.weight"].flatten().tolist() == [1, 2, 0, 4, 5, 3]

    retina = OrderedDict([("bbox_head.retina_cls.bias", rows[:, 0]), ("bbox_head.cls_convs.0.conv.bias", rows[:, 0])])
    new, report = upgrade_state_dict(retina, num_classes=3)
    assert all(torch.equal(new[k], v) for k, v in retina.items()) and not report.changed


def test_wrong_num_classes_is_refused():
    state = OrderedDict([("rpn_head.rpn_cls.weight", torch.zeros(3, 1)), ("bbox_head.fc_cls.weight", torch.zeros(5, 2))])
    with pytest.raises(CheckpointError, match="--num-classes 81 does not fit.*5 outputs"):
        upgrade_state_dict(state, num_classes=81)


def test_versions_compare_as_numbers():
    assert parse_version("1.0rc1+6d9e9d1") == (1, 0)
    assert parse_version("2.10.0") > parse_version("2.5.0")
    assert parse_version(None) is None


def test_a_2x_checkpoint_is_only_resaved(tmp_path):
    state = _model_state(FASTER)
    torch.save({"meta": {"mmdet_version": "2.28.2"}, "state_dict": state}, tmp_path / "v2.pth")
    report = upgrade_checkpoint(str(tmp_path / "v2.pth"), str(tmp_path / "out.pth"))
    out = torch.load(tmp_path / "out.pth", weights_only=True)["state_dict"]
    assert not report.changed and all(torch.equal(out[k], v) for k, v in state.items())


def test_config_check_refuses_another_architecture(tmp_path):
    old = to_1x(_model_state(FASTER), 5)
    with pytest.raises(CheckpointError, match="do not fit"):
        upgrade_checkpoint(_save_1x(tmp_path / "old.pth", old), str(tmp_path / "new.pth"), config=RETINA)
    assert not (tmp_path / "new.pth").exists()


def test_cli_needs_unsafe_load_for_pickled_objects(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DETCLI_UNSAFE_LOAD", "0")  # restored after the test, whatever the flag sets
    old = to_1x(_model_state(FASTER), 5)
    src = _save_1x(tmp_path / "old.pth", old, best_score=np.float64(0.5))
    dst = tmp_path / "new.pth"

    assert main(["upgrade-ckpt", src, str(dst)]) == 1
    err = capsys.readouterr().err
    assert "weights-only load refuses" in err and "--unsafe-load" in err
    assert not dst.exists()

    assert main(["upgrade-ckpt", src, str(dst), "--unsafe-load", "--config", FASTER]) == 0
    captured = capsys.readouterr()
    assert "--unsafe-load" in captured.err and "executes any code" in captured.err
    assert "background class moved last (5 classes)" in captured.out
    new = torch.load(dst, weights_only=True)  # the output needs no unsafe load
    assert new["meta"]["best_score"] == 0.5 and isinstance(new["meta"]["best_score"], float)
