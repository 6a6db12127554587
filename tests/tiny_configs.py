"""The tiny detector configs that end-to-end tests train on the generated shapes set, written once.

ResNet-18 at 8 base channels, a 16-channel FPN and 16/32-channel heads on 64 px images of
the 4 shape classes, without flips: a few CPU seconds per epoch. A test adds its schedule
(optimizer, lr, runner, logging, evaluation) after ``tiny_config``'s text.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_BASES = '''
_base_ = ['{{root}}/configs/_base_/models/{model}.py', '{{root}}/configs/_base_/datasets/shapes_instance.py',
          '{{root}}/configs/_base_/schedules/schedule_1x.py', '{{root}}/configs/_base_/default_runtime.py']
'''
_TINY_RESNET_FPN = '''    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),'''

SHAPES_64 = '''
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
data_root = '{data}/'
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(ann_file=data_root + 'annotations/{train_ann}', img_prefix=data_root + 'train/',
               pipeline=train_pipeline),
    val=dict(ann_file=data_root + 'annotations/instances_val.json', img_prefix=data_root + 'val/',
             pipeline=test_pipeline),
    test=dict(ann_file=data_root + 'annotations/{test_ann}', img_prefix=data_root + 'val/',
              pipeline=test_pipeline))
'''

RETINANET = _BASES.format(model="retinanet_r50_fpn") + f'''model = dict(
{_TINY_RESNET_FPN}
    bbox_head=dict(num_classes=4, in_channels=16, feat_channels=16, stacked_convs=1),
    test_cfg=dict(score_thr=0.0))
''' + SHAPES_64

FASTER_RCNN = _BASES.format(model="faster_rcnn_r50_fpn") + f'''model = dict(
{_TINY_RESNET_FPN}
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16),
                  bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=4)))
''' + SHAPES_64


def tiny_config(template: str, data: Path, train_ann: str = "instances_train.json",
                test_ann: str = "instances_val.json") -> str:
    """``template`` (``RETINANET``, ``FASTER_RCNN`` or a variant) filled in for the shapes set at ``data``."""
    return template.format(root=REPO, data=data, train_ann=train_ann, test_ann=test_ann)
