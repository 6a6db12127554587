"""A real tiny ``det train`` run shared by the tools tests: its logs, config and checkpoints.

A Faster R-CNN with 8-channel ResNet-18 on 4 generated 64 px images, 3 epochs of 2
iterations, evaluated every epoch and with a ``('val', 1)`` workflow (val losses logged).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY_FASTER_RCNN = '''
_base_ = ['{root}/configs/_base_/models/faster_rcnn_r50_fpn.py', '{root}/configs/_base_/datasets/shapes_instance.py',
          '{root}/configs/_base_/schedules/schedule_1x.py', '{root}/configs/_base_/default_runtime.py']
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16),
                  bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=4)))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(64, 64), keep_ratio=True), dict(type='RandomFlip', flip_ratio=0.0),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])])]
data_root = '{data}/'
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(ann_file=data_root + 'annotations/instances_train.json', img_prefix=data_root + 'train/',
               pipeline=train_pipeline),
    val=dict(ann_file=data_root + 'annotations/instances_val.json', img_prefix=data_root + 'val/',
             pipeline=test_pipeline),
    test=dict(ann_file=data_root + 'annotations/instances_val.json', img_prefix=data_root + 'val/',
              pipeline=test_pipeline))
optimizer = dict(lr=0.02)
lr_config = dict(warmup_iters=2, step=[100])
runner = dict(max_epochs=3)
log_config = dict(interval=1)
evaluation = dict(interval=1, metric='bbox')
workflow = [('train', 1), ('val', 1)]
'''


@dataclass
class TinyRun:
    config: Path
    work_dir: Path
    data: Path

    @property
    def json_log(self) -> Path:
        (path,) = self.work_dir.glob("*.log.json")
        return path

    @property
    def text_log(self) -> Path:
        return self.json_log.with_name(self.json_log.name[: -len(".json")])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    from detcli.cli import main
    from detcli.data.synthetic import generate_shapes

    os.environ.setdefault("DETCLI_NO_PROGRESS", "1")
    root = tmp_path_factory.mktemp("tiny_run")
    data = root / "shapes"
    generate_shapes(data, num_train=4, num_val=2, size=64, seed=0)
    config = root / "tiny_faster_rcnn.py"
    config.write_text(TINY_FASTER_RCNN.format(root=REPO, data=data))
    work = root / "work"
    assert main(["train", str(config), "--work-dir", str(work), "--device", "cpu", "--seed", "0"]) == 0
    return TinyRun(config, work, data)


@dataclass
class TinyResults:
    """``det test --out`` of the tiny run's model on its 2 validation images."""

    pkl: Path


@pytest.fixture(scope="session")
def tiny_results(tiny_run, tmp_path_factory) -> TinyResults:
    from detcli.cli import main

    out = tmp_path_factory.mktemp("tiny_results") / "results.pkl"
    ckpt = str(tiny_run.work_dir / "latest.pth")
    assert main(["test", str(tiny_run.config), ckpt, "--out", str(out), "--device", "cpu"]) == 0
    return TinyResults(out)
