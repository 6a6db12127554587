"""Configs the guide walks through, shipped under configs/: each loads to exactly the dict mmcv 1.7.2
gives for mmdetection 2.28's own copy (recorded in tests/fixtures/configs/mmcv_dicts.json by
record_mmcv_dicts.py there), and builds a model and its train pipeline."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from detcli.config import Config

REPO = Path(__file__).resolve().parents[1]
RECORDED = json.loads((REPO / "tests" / "fixtures" / "configs" / "mmcv_dicts.json").read_text())


def _encode():
    path = REPO / "benchmarks" / "mmdet_config_compat.py"
    spec = importlib.util.spec_from_file_location("mmdet_config_compat", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.encode


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_shipped_config_equals_mmdetection_228(name):
    cfg = Config.fromfile(REPO / "configs" / name)
    assert _encode()(cfg.to_dict()) == RECORDED[name]


def test_the_balloon_base_builds_a_caffe_style_mask_rcnn_with_multiscale_training():
    from detcli.data.pipelines import Compose
    from detcli.models import build_detector

    cfg = Config.fromfile(REPO / "configs/mask_rcnn/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_coco.py")
    model = build_detector(cfg.model)
    assert type(model).__name__ == "MaskRCNN" and model.backbone.style == "caffe"
    # caffe style: the stride-2 conv of a downsampling bottleneck is its first 1x1
    assert model.backbone.layer2[0].conv1.stride == (2, 2) and model.backbone.layer2[0].conv2.stride == (1, 1)
    norms = [p for n, p in model.backbone.named_parameters() if ".bn" in n or n.startswith("bn")]
    assert len(norms) > 90 and not any(p.requires_grad for p in norms)  # frozen BatchNorm affine
    assert model.roi_head.bbox_head.num_classes == 80 and model.roi_head.mask_head.num_classes == 80
    pipeline = Compose(cfg.data.train.pipeline)
    resize = next(t for t in pipeline.transforms if type(t).__name__ == "Resize")
    assert resize.multiscale_mode == "value" and [s[1] for s in resize.img_scale] == [640, 672, 704, 736, 768, 800]
    normalize = next(t for t in pipeline.transforms if type(t).__name__ == "Normalize")
    assert normalize.to_rgb is False and normalize.std.tolist() == [1.0, 1.0, 1.0]
