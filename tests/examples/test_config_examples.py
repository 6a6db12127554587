"""The guide's chapter 四 (configs): a child config that changes the pipeline variables of its
base (multi-scale training) and one that replaces the backbone dict with ``_delete_=True``."""

from __future__ import annotations

import json

import torch
from example_runs import det, json_log, train

from detcli.config import Config
from detcli.models import build_detector


def test_multiscale_pipelines_reach_the_datasets(example, tmp_path, capsys):
    folder = example("config_inheritance")
    config = folder / "mask_rcnn_r18_fpn_mstrain_shapes.py"
    assert det("print-config", config, "--json") == 0
    merged = json.loads(capsys.readouterr().out)
    resize = merged["data"]["train"]["pipeline"][2]
    assert resize["multiscale_mode"] == "value" and [s[1] for s in resize["img_scale"]] == [256, 288, 320, 352, 384]
    assert merged["data"]["test"]["pipeline"][1]["img_scale"] == [400, 320]
    train(config, tmp_path / "work")
    assert len([d for d in json_log(tmp_path / "work") if d["mode"] == "train"]) == 2


def test_delete_replaces_the_backbone(example):
    folder = example("config_inheritance")
    cfg = Config.fromfile(folder / "mask_rcnn_x50_fpn_shapes.py")
    assert "depth" in cfg.model.backbone and "init_cfg" not in cfg.model.backbone  # the base's keys are gone
    model = build_detector(cfg.model)
    assert type(model.backbone).__name__ == "ResNeXt" and model.backbone.layer1[0].conv2.groups == 8
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [64] * 5  # the neck took the ResNeXt's widths
