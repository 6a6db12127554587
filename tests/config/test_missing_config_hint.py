"""A config path that does not exist names the config the user probably meant: the guide types
paths that moved (configs/mask_rcnn_r50_fpn_1x_coco.py) and 1.x names (faster_rcnn_r50_fpn_1x.py)."""

from __future__ import annotations

import pytest

from detcli.config import Config
from detcli.errors import ConfigError


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for name in ("mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py",
                 "pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py", "_base_/models/faster_rcnn_r50_fpn.py"):
        path = tmp_path / "configs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("model = dict(type='X')\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("typed", "meant"), [
    ("configs/mask_rcnn_r50_fpn_1x_coco.py", "configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py"),
    ("configs/faster_rcnn/faster_rcnn_r50_fpn_1x.py", "configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py"),
    ("configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc.py", "configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py"),
    ("configs/_base_/models/faster_rcnn_r50.py", "configs/_base_/models/faster_rcnn_r50_fpn.py"),
])
def test_a_missing_config_suggests_the_one_meant(tree, typed, meant):
    with pytest.raises(ConfigError, match="config file not found") as info:
        Config.fromfile(typed)
    assert info.value.hint.startswith(f"did you mean {meant}")
    if "_base_" not in typed:
        assert "_base_" not in info.value.hint  # runnable configs only


def test_nothing_close_keeps_the_generic_hint(tree):
    with pytest.raises(ConfigError) as info:
        Config.fromfile("configs/retinanet/yolov3_d53_320_273e_coco.py")
    assert info.value.hint == "check the path (configs/<method>/<name>.py)"
    with pytest.raises(ConfigError) as info:
        Config.fromfile("elsewhere/mask_rcnn_r50_fpn_1x_coco.py")  # no configs/ folder in the path
    assert "did you mean" not in info.value.hint
