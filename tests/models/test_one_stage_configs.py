"""Every mmdetection 2.28 config of the FCOS, ATSS, GFL, YOLO and SSD families is in configs/
under its 2.x name and builds a model whose state_dict keys and shapes are exactly 2.28's.

The expected keys and shapes were recorded by mmdetection 2.28.2 itself from its own config
files (``tests/fixtures/models/one_stage_references/``). Models are built on the meta
device: only the structure is compared, no weights are allocated.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
KEYS = json.loads(gzip.decompress(
    (REPO / "tests/fixtures/models/one_stage_references/state_dict_keys_228.json.gz").read_bytes()))


def test_the_recorded_configs_cover_the_five_families():
    families = {name.split("/")[0] for name in KEYS}
    assert families == {"fcos", "atss", "gfl", "yolo", "ssd"} and len(KEYS) == 29


@pytest.mark.parametrize("name", sorted(KEYS))
def test_config_builds_the_2x_state_dict(name):
    from detcli.config import Config
    from detcli.models import build_detector

    path = REPO / "configs" / name
    assert path.is_file(), f"configs/{name} is missing"
    with torch.device("meta"):
        model = build_detector(Config.fromfile(str(path)).model)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    expected = KEYS[name]
    assert [k for k in expected if k not in ours] == [] and [k for k in ours if k not in expected] == []
    assert ours == expected


@pytest.mark.parametrize("name", ["fcos_r18_fpn_shapes.py", "atss_r18_fpn_shapes.py"])
def test_shapes_configs_train_on_retinanets_budget(name):
    """Same data, backbone, neck width, head depth, optimizer and schedule as the RetinaNet baseline."""
    from detcli.config import Config

    ours = Config.fromfile(str(REPO / "configs/shapes" / name))
    retina = Config.fromfile(str(REPO / "configs/shapes/retinanet_r18_fpn_shapes.py"))
    for key in ("optimizer", "optimizer_config", "lr_config", "runner", "data"):
        assert ours[key] == retina[key], key
    for key in ("depth", "base_channels", "frozen_stages", "norm_eval", "init_cfg"):
        assert ours.model.backbone[key] == retina.model.backbone[key], key
    assert ours.model.neck.out_channels == retina.model.neck.out_channels == 64
    assert ours.model.neck.norm_cfg == retina.model.neck.norm_cfg
    for key in ("stacked_convs", "feat_channels", "num_classes"):
        assert ours.model.bbox_head[key] == retina.model.bbox_head[key], key
    assert ours.model.test_cfg.nms_pre == retina.model.test_cfg.nms_pre
