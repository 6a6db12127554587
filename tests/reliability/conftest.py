"""Bad-input suite: a tiny RetinaNet config on a generated shapes set, and the check every case
makes (non-zero exit, no traceback, one ``error:`` line naming what is wrong)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from detcli.cli import main

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("DETCLI_NO_PROGRESS", "1")

RETINANET = '''
_base_ = ['{root}/configs/_base_/models/retinanet_r50_fpn.py', '{root}/configs/_base_/schedules/schedule_1x.py',
          '{root}/configs/_base_/default_runtime.py']
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    bbox_head=dict(num_classes=4, in_channels=16, feat_channels=16, stacked_convs=1),
    test_cfg=dict(score_thr=0.0))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(64, 64), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.0),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])]),
]
classes = ('circle', 'square', 'triangle', 'star')
data_root = '{data}/'
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(type='CocoDataset', classes=classes, ann_file=data_root + 'annotations/{train_ann}',
               img_prefix=data_root + 'train/', pipeline=train_pipeline),
    val=dict(type='CocoDataset', classes=classes, ann_file=data_root + 'annotations/instances_val.json',
             img_prefix=data_root + 'val/', pipeline=test_pipeline),
    test=dict(type='CocoDataset', classes=classes, ann_file=data_root + 'annotations/{test_ann}',
              img_prefix=data_root + 'val/', pipeline=test_pipeline))
optimizer = dict(lr=0.01)
lr_config = dict(warmup_iters=2, step=[100])
runner = dict(max_epochs=1)
log_config = dict(interval=1)
evaluation = dict(interval=1, metric='bbox')
'''


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Path:
    """4 training and 2 validation images of 64 px (read-only: copy it before breaking it)."""
    from detcli.data.synthetic import generate_shapes

    root = tmp_path_factory.mktemp("reliability") / "shapes"
    generate_shapes(root, num_train=4, num_val=2, size=64, seed=0)
    return root


@pytest.fixture
def own_shapes(shapes, tmp_path) -> Path:
    """A private copy of the shapes set that a test may damage."""
    return Path(shutil.copytree(shapes, tmp_path / "shapes"))


def write_config(path: Path, data: Path, extra: str = "", train_ann: str = "instances_train.json",
                 test_ann: str = "instances_val.json") -> Path:
    path.write_text(RETINANET.format(root=REPO, data=data, train_ann=train_ann, test_ann=test_ann) + extra)
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


def clean_error(capsys, argv: list[str]) -> str:
    """Run ``det argv``; assert a non-zero exit, no traceback and exactly one ``error:`` line; return it."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err and "run with --debug" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]
