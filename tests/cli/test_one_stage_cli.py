"""``det train``, ``det test`` and ``det infer`` run every one-stage family (FCOS, ATSS, GFL,
YOLOv3, SSDLite) from its real config in configs/, shrunk to a tiny model on generated shapes.

The SSD and YOLO runs train through their configs' own augmentations (Expand,
MinIoURandomCrop, PhotoMetricDistortion).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from detcli.cli import main

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("DETCLI_NO_PROGRESS", "1")

R18 = ("backbone=dict(depth=18, base_channels=8, init_cfg=None, norm_cfg=dict(type='BN', requires_grad=True)), "
       "neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)")
GN_HEAD = "num_classes=4, in_channels=16, feat_channels=16, stacked_convs=1, norm_cfg=dict(type='GN', num_groups=4)"
FAMILIES = {
    "fcos": ("fcos/fcos_center-normbbox-centeronreg-giou_r50_caffe_fpn_gn-head_1x_coco.py",
             f"model = dict({R18}, bbox_head=dict({GN_HEAD}))", ["loss_cls", "loss_bbox", "loss_centerness"]),
    "atss": ("atss/atss_r50_fpn_1x_coco.py", f"model = dict({R18}, bbox_head=dict({GN_HEAD}))",
             ["loss_cls", "loss_bbox", "loss_centerness"]),
    "gfl": ("gfl/gfl_r50_fpn_1x_coco.py", f"model = dict({R18}, bbox_head=dict({GN_HEAD}))",
            ["loss_cls", "loss_bbox", "loss_dfl"]),
    "yolo": ("yolo/yolov3_mobilenetv2_320_300e_coco.py",
             "model = dict(backbone=dict(widen_factor=0.1, init_cfg=None), "
             "neck=dict(in_channels=[32, 16, 8], out_channels=[8, 8, 8]), "
             "bbox_head=dict(num_classes=4, in_channels=[8, 8, 8], out_channels=[8, 8, 8]))",
             ["loss_cls", "loss_conf", "loss_xy", "loss_wh"]),
    "ssdlite": ("ssd/ssdlite_mobilenetv2_scratch_600e_coco.py",
                "model = dict(backbone=dict(widen_factor=0.1, out_indices=(4, 6), init_cfg=None), "
                "neck=dict(in_channels=(16, 32), out_channels=(16, 32, 16, 16, 8, 8), init_cfg=None), "
                "bbox_head=dict(num_classes=4, in_channels=(16, 32, 16, 16, 8, 8), init_cfg=None))",
                ["loss_cls", "loss_bbox"]),
}
AUGMENT = '''
    dict(type='Expand', mean=img_norm_cfg['mean'], to_rgb=img_norm_cfg['to_rgb'], ratio_range=(1, 2)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5), min_crop_size=0.3),'''
TINY = '''
_base_ = '{root}/configs/{config}'
{model}
model.update(test_cfg=dict(score_thr=0.0))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),{augment}
    dict(type='Resize', img_scale=(96, 96), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),{photometric}
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(96, 96), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])]),
]
classes = ('circle', 'square', 'triangle', 'star')
data_root = '{data}/'
data = dict(
    _delete_=True, samples_per_gpu=2, workers_per_gpu=0,
    train=dict(type='CocoDataset', classes=classes, ann_file=data_root + 'annotations/instances_train.json',
               img_prefix=data_root + 'train/', pipeline=train_pipeline),
    val=dict(type='CocoDataset', classes=classes, ann_file=data_root + 'annotations/instances_val.json',
             img_prefix=data_root + 'val/', pipeline=test_pipeline),
    test=dict(type='CocoDataset', classes=classes, ann_file=data_root + 'annotations/instances_val.json',
              img_prefix=data_root + 'val/', pipeline=test_pipeline))
lr_config = dict(warmup_iters=2)
runner = dict(type='EpochBasedRunner', max_epochs=1)
log_config = dict(interval=1)
'''


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from detcli.data.synthetic import generate_shapes

    data = tmp_path_factory.mktemp("one_stage_shapes") / "shapes"
    generate_shapes(data, num_train=4, num_val=2, size=96, seed=0)
    return data


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_train_test_and_infer_run_the_family(family, shapes, tmp_path, capsys):
    config, model, losses = FAMILIES[family]
    augmented = family in ("yolo", "ssdlite")
    cfg = tmp_path / f"{family}_tiny.py"
    cfg.write_text(TINY.format(root=REPO, config=config, model=model, data=shapes,
                               augment=AUGMENT if augmented else "",
                               photometric="\n    dict(type='PhotoMetricDistortion')," if augmented else ""))
    work = tmp_path / "work"
    assert main(["train", str(cfg), "--work-dir", str(work), "--device", "cpu", "--seed", "0", "--no-validate"]) == 0
    (log,) = work.glob("*.log.json")
    train = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    assert [d["iter"] for d in train if d.get("mode") == "train"] == [1, 2]
    for line in train:
        assert all(np.isfinite(line[name]) for name in losses), line
    checkpoint = work / "latest.pth"

    out = tmp_path / "results.pkl"
    capsys.readouterr()
    assert main(["test", str(cfg), str(checkpoint), "--device", "cpu", "--out", str(out), "--eval", "bbox"]) == 0
    assert "bbox_mAP" in capsys.readouterr().out
    with open(out, "rb") as fh:
        results = pickle.load(fh)
    assert len(results) == 2 and all(len(per_image) == 4 for per_image in results)
    assert all(r.dtype == np.float32 and r.shape[1] == 5 for per_image in results for r in per_image)
    assert sum(len(r) for per_image in results for r in per_image) > 0  # score_thr 0: something is found

    image = sorted((shapes / "val").iterdir())[0]
    assert main(["infer", str(image), str(cfg), str(checkpoint), "--device", "cpu", "--score-thr", "0"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["image"].endswith(image.name) and record["detections"]
    assert {d["class"] for d in record["detections"]} <= {"circle", "square", "triangle", "star"}
