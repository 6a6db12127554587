"""``det train`` -> ``det test`` -> ``det infer`` for each model family of the shipped configs.

Each tiny config inherits the real family config from ``configs/`` and only narrows channels,
data and schedule, so the family's own model, test settings and (for HTC and NAS-FPN) pipelines
are what runs: Cascade Mask R-CNN, HTC, Faster R-CNN with HRNet + HRFPN (the guide's
``_delete_=True`` example), PAFPN, DCN / DCNv2 / deformable RoI pooling, NAS-FPN RetinaNet,
ResNeSt, Res2Net, Grid R-CNN, Libra R-CNN and SCNet (without its semantic branch: the shapes set has no
stuff maps).
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

DATA = '''
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask={masks}),
    dict(type='Resize', img_scale=(64, 64), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor={divisor}),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'{mask_key}]),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor={divisor}), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])]),
]
dataset_type = 'CocoDataset'
classes = ('circle', 'square', 'triangle', 'star')
data_root = '{data}/'
data = dict(
    _delete_=True, samples_per_gpu=2, workers_per_gpu=0,
    train=dict(type=dataset_type, classes=classes, ann_file=data_root + 'annotations/instances_train.json',
               img_prefix=data_root + 'train/', pipeline=train_pipeline),
    val=dict(type=dataset_type, classes=classes, ann_file=data_root + 'annotations/instances_val.json',
             img_prefix=data_root + 'val/', pipeline=test_pipeline),
    test=dict(type=dataset_type, classes=classes, ann_file=data_root + 'annotations/instances_val.json',
              img_prefix=data_root + 'val/', pipeline=test_pipeline))
optimizer = dict(_delete_=True, type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=10, norm_type=2))
lr_config = dict(_delete_=True, policy='step', warmup=None, step=[100])
runner = dict(type='EpochBasedRunner', max_epochs=1)
log_config = dict(interval=1)
evaluation = dict(metric={metrics})
'''

R18 = "backbone=dict(depth=18, base_channels=8, init_cfg=None), neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)"
R50 = "backbone=dict(base_channels=4, init_cfg=None), neck=dict(in_channels=[16, 32, 64, 128], out_channels=16)"
RPN = "rpn_head=dict(in_channels=16, feat_channels=16)"
TEST = "test_cfg=dict(rpn=dict(nms_pre=100, max_per_img=50), rcnn=dict(score_thr=0.0, max_per_img=20))"
R50_DCNV2 = R50.replace("init_cfg=None", "init_cfg=None, dcn=dict(type='DCNv2', deform_groups=1), "
                        "stage_with_dcn=(False, True, True, True)")
BOX = "bbox_roi_extractor=dict(out_channels=16), bbox_head=dict(in_channels=16, fc_out_channels=16, num_classes=4)"


STDS = ("[0.1, 0.1, 0.2, 0.2]", "[0.05, 0.05, 0.1, 0.1]", "[0.033, 0.033, 0.067, 0.067]")
# lists replace the base's lists whole: every stage written out with the family's own settings
CASCADE_BOXES = "bbox_roi_extractor=dict(out_channels=16), bbox_head=[" + ", ".join(
    "dict(type='Shared2FCBBoxHead', in_channels=16, fc_out_channels=16, num_classes=4, reg_class_agnostic=True, "
    f"bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds={std}), "
    "loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))" for std in STDS) + "]"
CASCADE_MASKS = "mask_roi_extractor=dict(out_channels=16), mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=4)"
SCNET_BOXES = CASCADE_BOXES.replace("type='Shared2FCBBoxHead'", "type='SCNetBBoxHead', num_shared_fcs=2")
HTC_MASKS = "mask_roi_extractor=dict(out_channels=16), mask_head=[" + ", ".join(
    f"dict(type='HTCMaskHead', with_conv_res={i > 0}, num_convs=2, in_channels=16, conv_out_channels=16, "
    "num_classes=4)" for i in range(3)) + "]"
HRNET = ("backbone=dict(init_cfg=None, extra=dict(stage1=dict(num_blocks=(1,), num_channels=(4,)), "
         "stage2=dict(num_blocks=(1, 1), num_channels=(2, 4)), "
         "stage3=dict(num_modules=1, num_blocks=(1, 1, 1), num_channels=(2, 4, 8)), "
         "stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1), num_channels=(2, 4, 8, 16)))), "
         "neck=dict(in_channels=[2, 4, 8, 16], out_channels=16)")

# (family config, model overrides, masks?, pad divisor)
FAMILIES = {
    "cascade_mask_rcnn": ("cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py",
                          f"{R18}, {RPN}, roi_head=dict({CASCADE_BOXES}, {CASCADE_MASKS}), {TEST}", True, 32),
    "htc_without_semantic": ("htc/htc_without_semantic_r50_fpn_1x_coco.py",
                             f"{R18}, {RPN}, roi_head=dict({CASCADE_BOXES}, {HTC_MASKS}), {TEST}", True, 32),
    "faster_rcnn_hrnetv2p": ("hrnet/faster_rcnn_hrnetv2p_w32_1x_coco.py",
                             f"{HRNET}, {RPN}, roi_head=dict({BOX}), {TEST}", False, 32),
    "faster_rcnn_pafpn": ("pafpn/faster_rcnn_r50_pafpn_1x_coco.py", f"{R50}, {RPN}, roi_head=dict({BOX}), {TEST}",
                          False, 32),
    "mask_rcnn_dconv": ("dcn/mask_rcnn_r50_fpn_dconv_c3-c5_1x_coco.py",
                        f"{R50}, {RPN}, roi_head=dict({BOX}, mask_roi_extractor=dict(out_channels=16), "
                        f"mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=4)), {TEST}", True, 32),
    "faster_rcnn_mdconv_mdpool": ("dcnv2/faster_rcnn_r50_fpn_mdpool_1x_coco.py",
                                  f"{R50_DCNV2}, {RPN}, roi_head=dict(bbox_roi_extractor=dict(out_channels=16, "
                                  "roi_layer=dict(output_channels=16, deform_fc_channels=16)), "
                                  f"bbox_head=dict(in_channels=16, fc_out_channels=16, num_classes=4)), {TEST}", False, 32),
    "grid_rcnn": ("grid_rcnn/grid_rcnn_r50_fpn_gn-head_1x_coco.py",
                  f"{R18}, {RPN}, roi_head=dict({BOX}, grid_roi_extractor=dict(out_channels=16), "
                  "grid_head=dict(in_channels=16, point_feat_channels=4, num_convs=2, "
                  f"norm_cfg=dict(type='GN', num_groups=9))), {TEST}", False, 32),
    "libra_faster_rcnn": ("libra_rcnn/libra_faster_rcnn_r50_fpn_1x_coco.py",
                          "backbone=dict(base_channels=4, init_cfg=None), neck=[dict(type='FPN', in_channels=[16, 32, "
                          "64, 128], out_channels=16, num_outs=5), dict(type='BFP', in_channels=16, num_levels=5, "
                          f"refine_level=2, refine_type='non_local')], {RPN}, roi_head=dict({BOX}), {TEST}", False, 32),
    "scnet_without_semantic": ("scnet/scnet_r50_fpn_1x_coco.py",
                               f"{R18}, {RPN}, roi_head=dict({SCNET_BOXES}, mask_roi_extractor=dict(out_channels=16), "
                               "mask_head=dict(in_channels=16, conv_out_channels=16, num_convs=2, num_classes=4), "
                               "semantic_head=None, semantic_roi_extractor=None, glbctx_head=dict(in_channels=16, "
                               "conv_out_channels=16, num_convs=2, num_classes=4), feat_relay_head=dict("
                               f"in_channels=16, out_conv_channels=16)), {TEST}", True, 32),
    "retinanet_nasfpn": ("nas_fpn/retinanet_r50_nasfpn_crop640_50e_coco.py",
                         "backbone=dict(base_channels=4, init_cfg=None), neck=dict(in_channels=[16, 32, 64, 128], "
                         "out_channels=16, stack_times=1), bbox_head=dict(num_classes=4, in_channels=16, "
                         "feat_channels=16, stacked_convs=1), test_cfg=dict(score_thr=0.0)", False, 128),
    "resnest": ("resnest/faster_rcnn_s50_fpn_syncbn-backbone+head_mstrain-range_1x_coco.py",
                "backbone=dict(base_channels=4, stem_channels=8, norm_cfg=dict(type='BN', requires_grad=True), "
                f"init_cfg=None), neck=dict(in_channels=[16, 32, 64, 128], out_channels=16), {RPN}, "
                "roi_head=dict(bbox_roi_extractor=dict(out_channels=16), bbox_head=dict(in_channels=16, "
                f"conv_out_channels=16, fc_out_channels=16, num_classes=4, norm_cfg=dict(type='BN', requires_grad=True))), {TEST}",
                False, 32),
    "res2net": ("res2net/faster_rcnn_r2_101_fpn_2x_coco.py",
                f"backbone=dict(depth=50, base_channels=4, base_width=8, init_cfg=None), "
                f"neck=dict(in_channels=[16, 32, 64, 128], out_channels=16), {RPN}, roi_head=dict({BOX}), {TEST}",
                False, 32),
}
FAST = ("cascade_mask_rcnn", "htc_without_semantic", "faster_rcnn_hrnetv2p")  # the rest: make test-slow


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from detcli.data.synthetic import generate_shapes

    data = tmp_path_factory.mktemp("family_shapes") / "shapes"
    generate_shapes(data, num_train=4, num_val=2, size=64, seed=0)
    return data


def write_config(path: Path, family: str, data: Path) -> Path:
    base, model, masks, divisor = FAMILIES[family]
    text = (f"_base_ = '{REPO / 'configs' / base}'\nmodel = dict({model})\n"
            + DATA.format(data=data, masks=masks, mask_key=", 'gt_masks'" if masks else "", divisor=divisor,
                          metrics="['bbox', 'segm']" if masks else "['bbox']"))
    path.write_text(text)
    return path


@pytest.mark.parametrize("family", [pytest.param(f, marks=() if f in FAST else pytest.mark.slow) for f in FAMILIES])
def test_train_test_infer(family, shapes, tmp_path, capsys):
    _, _, masks, _ = FAMILIES[family]
    config = write_config(tmp_path / f"{family}_tiny.py", family, shapes)
    work = tmp_path / "work"
    assert main(["train", str(config), "--work-dir", str(work), "--device", "cpu", "--seed", "0",
                 "--no-validate"]) == 0
    lines = [json.loads(line) for line in next(work.glob("*.log.json")).read_text().splitlines()[1:]]
    train = [d for d in lines if d.get("mode") == "train"]
    assert len(train) == 2 and all(np.isfinite(d["loss"]) for d in train)
    if family in ("cascade_mask_rcnn", "htc_without_semantic", "scnet_without_semantic"):
        assert {"s0.loss_cls", "s1.loss_bbox", "s2.acc"} <= set(train[0])
        assert "s2.loss_mask" in train[0] or {"loss_mask", "loss_glbctx"} <= set(train[0])
    checkpoint = work / "latest.pth"

    out = tmp_path / "results.pkl"
    metrics = ["bbox", "segm"] if masks else ["bbox"]
    capsys.readouterr()
    assert main(["test", str(config), str(checkpoint), "--device", "cpu", "--out", str(out), "--eval", *metrics]) == 0
    printed = capsys.readouterr().out
    assert "bbox_mAP" in printed and ("segm_mAP" in printed) == masks
    with open(out, "rb") as fh:
        results = pickle.load(fh)
    assert len(results) == 2  # two val images
    first = results[0][0] if masks else results[0]
    assert len(first) == 4 and all(r.shape[1] == 5 for r in first)

    image = next((shapes / "val").glob("*.png"))
    assert main(["infer", str(image), str(config), str(checkpoint), "--device", "cpu", "--score-thr", "0"]) == 0
    record = json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1])
    assert record["image"].endswith(image.name) and len(record["detections"]) > 0
    assert all(set(d) >= {"bbox", "score", "label"} for d in record["detections"])
    assert ("mask" in record["detections"][0]) == masks
