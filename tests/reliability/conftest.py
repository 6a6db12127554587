"""Bad-input suite: a tiny RetinaNet config on a generated shapes set, and the check every case
makes (non-zero exit, no traceback, one ``error:`` line naming what is wrong)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import tiny_configs

from detcli.cli import main

os.environ.setdefault("DETCLI_NO_PROGRESS", "1")

RETINANET = tiny_configs.RETINANET + """
optimizer = dict(lr=0.01)
lr_config = dict(warmup_iters=2, step=[100])
runner = dict(max_epochs=1)
log_config = dict(interval=1)
evaluation = dict(interval=1, metric='bbox')
"""


@pytest.fixture
def own_shapes(shapes, tmp_path) -> Path:
    """A private copy of the shapes set that a test may damage."""
    return Path(shutil.copytree(shapes, tmp_path / "shapes"))


def write_config(path: Path, data: Path, extra: str = "", train_ann: str = "instances_train.json",
                 test_ann: str = "instances_val.json") -> Path:
    path.write_text(tiny_configs.tiny_config(RETINANET, data, train_ann, test_ann) + extra)
    return path


def edit_coco(data: Path, name: str, edit) -> str:
    """Write ``annotations/<name>`` as the training json changed by ``edit(dict)``; returns ``name``."""
    coco = json.loads((data / "annotations" / "instances_train.json").read_text())
    edit(coco)
    (data / "annotations" / name).write_text(json.dumps(coco))
    return name


@pytest.fixture(scope="session")
def trained(shapes, tmp_path_factory) -> tuple[Path, Path]:
    """(config, checkpoint) of one epoch of the tiny RetinaNet."""
    folder = tmp_path_factory.mktemp("trained")
    cfg = write_config(folder / "retina.py", shapes)
    assert main(["train", str(cfg), "--work-dir", str(folder / "work"), "--seed", "0", "--no-validate"]) == 0
    return cfg, folder / "work" / "epoch_1.pth"
