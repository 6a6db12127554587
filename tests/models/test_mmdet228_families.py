"""The cascade, HTC, HRNet, PAFPN, NAS-FPN, DCN, ResNeSt, Res2Net, Libra, Grid R-CNN and SCNet families against mmdetection 2.28.

Two facts recorded from mmdetection 2.28.2 (mmcv 1.7.2) are compared with what detcli does:
- ``fixtures/configs/mmdet228_models3_configs.json.xz``: ``Config.fromfile`` of each config of these
  families that ``configs/`` ships, as JSON; ours must load to the same dict;
- ``fixtures/models/mmdet228_state_dict_shapes.json.xz``: the state_dict keys and shapes of
  ``build_detector(cfg.model)`` for every 2.28 config of these folders; ours must build the same.
Configs that ``configs/`` does not ship are read (slow) from ``$MMDET_CONFIGS`` (a 2.28 config tree)
or else from the tree the ``mmdet_config_tree`` fixture fetches.
"""

from __future__ import annotations

import json
import lzma
import os
from functools import lru_cache
from pathlib import Path

import pytest

from detcli.config import Config
from detcli.models import build_detector
from detcli.registry import DETECTORS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
MMDET_CONFIGS = os.environ.get("MMDET_CONFIGS")


def _load_xz(path: Path) -> dict:
    return json.loads(lzma.decompress(path.read_bytes()))


@lru_cache(maxsize=1)
def _shapes() -> dict:
    return _load_xz(FIXTURES / "models" / "mmdet228_state_dict_shapes.json.xz")


REFERENCE_CONFIGS = _load_xz(FIXTURES / "configs" / "mmdet228_models3_configs.json.xz")["configs"]
ALL_228 = sorted(_shapes()["configs"])
SHIPPED = [name for name in ALL_228 if (REPO / "configs" / name).is_file()]
NOT_SHIPPED = [name for name in ALL_228 if name not in SHIPPED]
ONE_PER_FAMILY = [
    "cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py",
    "htc/htc_r50_fpn_1x_coco.py",
    "hrnet/faster_rcnn_hrnetv2p_w18_1x_coco.py",
    "pafpn/faster_rcnn_r50_pafpn_1x_coco.py",
    "nas_fpn/retinanet_r50_nasfpn_crop640_50e_coco.py",
    "dcn/faster_rcnn_r50_fpn_dpool_1x_coco.py",
    "dcnv2/faster_rcnn_r50_fpn_mdconv_c3-c5_group4_1x_coco.py",
    "resnest/faster_rcnn_s50_fpn_syncbn-backbone+head_mstrain-range_1x_coco.py",
    "libra_rcnn/libra_retinanet_r50_fpn_1x_coco.py",
    "grid_rcnn/grid_rcnn_r50_fpn_gn-head_1x_coco.py",
    "scnet/scnet_r50_fpn_1x_coco.py",
]


def _expected_shapes(name: str) -> dict[str, list[int]]:
    data = _shapes()
    return {key: shape for key, shape in data["state_dicts"][data["configs"][name]]}


def _check_build(path: Path, name: str) -> None:
    cfg = Config.fromfile(str(path))
    model = build_detector(cfg.model)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    expected = _expected_shapes(name)
    assert sorted(set(expected) - set(ours)) == [], f"{name}: missing keys"
    assert sorted(set(ours) - set(expected)) == [], f"{name}: unexpected keys"
    assert {k: (v, expected[k]) for k, v in ours.items() if expected[k] != v} == {}, f"{name}: shapes differ"


def test_the_fixtures_cover_the_families():
    folders = {name.split("/")[0] for name in ALL_228}
    assert folders >= {"cascade_rcnn", "htc", "hrnet", "pafpn", "nas_fpn", "dcn", "dcnv2", "resnest", "res2net",
                       "libra_rcnn", "grid_rcnn", "scnet"}
    assert len(ALL_228) >= 90 and len(SHIPPED) >= 45 and set(ONE_PER_FAMILY) <= set(SHIPPED)
    assert set(REFERENCE_CONFIGS) >= set(SHIPPED)


def _check_config(name: str) -> None:
    ours = json.loads(json.dumps(Config.fromfile(str(REPO / "configs" / name)).to_dict()))
    assert ours == REFERENCE_CONFIGS[name]


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_one_config_per_family_loads_to_the_mmdetection_dict(name):
    _check_config(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in sorted(REFERENCE_CONFIGS) if n not in ONE_PER_FAMILY])
def test_every_shipped_config_loads_to_the_mmdetection_dict(name):
    _check_config(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_builds_the_mmdetection_state_dict(name):
    _check_build(REPO / "configs" / name, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOT_SHIPPED)
def test_every_other_228_config_builds_the_mmdetection_state_dict(name, request):
    tree = Path(MMDET_CONFIGS) if MMDET_CONFIGS else request.getfixturevalue("mmdet_config_tree")
    path = tree / name
    assert path.is_file(), f"{path} is missing from the 2.28 config tree"
    model = Config.fromfile(str(path)).model
    if DETECTORS.get(model.type) is None:
        pytest.skip(f"{model.type} is not part of detcli yet")
    _check_build(path, name)


def test_the_guides_hrnet_example_builds_with_hrfpn(tmp_path):
    """The guide's ``_delete_=True`` example: Mask R-CNN with HRNetV2-W32 given by the 2.6-style
    model-level ``pretrained``, HRFPN as the neck."""
    config = tmp_path / "mask_rcnn_hrnetv2p_w32_guide.py"
    config.write_text(f'''
_base_ = '{REPO / "configs" / "mask_rcnn" / "mask_rcnn_r50_fpn_1x_coco.py"}'
model = dict(
    pretrained='open-mmlab://msra/hrnetv2_w32',
    backbone=dict(
        _delete_=True,
        type='HRNet',
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ), num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4), num_channels=(32, 64)),
            stage3=dict(num_modules=4, num_branches=3, block='BASIC', num_blocks=(4, 4, 4),
                        num_channels=(32, 64, 128)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4, 4, 4, 4),
                        num_channels=(32, 64, 128, 256)))),
    neck=dict(_delete_=True, type='HRFPN', in_channels=[32, 64, 128, 256], out_channels=256))
''')
    cfg = Config.fromfile(str(config))
    assert "depth" not in cfg.model.backbone  # _delete_ dropped ResNet's keys
    model = build_detector(cfg.model)
    assert model.backbone.init_cfg == dict(type="Pretrained", checkpoint="open-mmlab://msra/hrnetv2_w32")
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert ours == _expected_shapes("hrnet/mask_rcnn_hrnetv2p_w32_1x_coco.py")
