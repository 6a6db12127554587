"""Every file under configs/ loads, prints as Python that reloads to the same dict, and the
configs the guide names carry mmdetection 2.x's hyper-parameters (checked against values
written out by hand from its model zoo configs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detcli.config import Config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL = sorted(p for p in CONFIGS.rglob("*") if p.suffix in (".py", ".json", ".yaml", ".yml"))


def test_the_tree_is_there():
    names = {p.relative_to(CONFIGS).as_posix() for p in ALL}
    assert {
        "_base_/default_runtime.py",
        "_base_/schedules/schedule_1x.py",
        "_base_/datasets/coco_instance.py",
        "_base_/models/mask_rcnn_r50_fpn.py",
        "faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py",
        "mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py",
        "retinanet/retinanet_r50_fpn_1x_coco.py",
        "rpn/rpn_r50_fpn_1x_coco.py",
        "pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py",
    } <= names


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_every_config_loads_and_round_trips(path):
    cfg = Config.fromfile(path)
    assert len(cfg) > 0
    namespace: dict = {}
    exec(cfg.pretty_text, namespace)
    assert {k: v for k, v in namespace.items() if not k.startswith("__")} == cfg.to_dict()
    if not {"_base_", "common"} & set(path.relative_to(CONFIGS).parts):
        # a runnable config names a model, data and a schedule (common/ holds shared bases, as in mmdetection)
        assert cfg.model.type and "data" in cfg and ("runner" in cfg or "total_epochs" in cfg)


def load(name: str) -> Config:
    return Config.fromfile(CONFIGS / name)


@pytest.mark.parametrize(
    ("name", "steps", "epochs"),
    [("schedule_1x", [8, 11], 12), ("schedule_2x", [16, 22], 24), ("schedule_20e", [16, 19], 20)],
)
def test_schedules(name, steps, epochs):
    cfg = load(f"_base_/schedules/{name}.py")
    assert cfg.optimizer == dict(type="SGD", lr=0.02, momentum=0.9, weight_decay=0.0001)
    assert cfg.lr_config.step == steps and cfg.runner == dict(type="EpochBasedRunner", max_epochs=epochs)
    assert (cfg.lr_config.warmup, cfg.lr_config.warmup_iters, cfg.lr_config.warmup_ratio) == (
        "linear",
        500,
        0.001,
    )


def test_mask_rcnn_coco():
    cfg = load("mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py")
    model = cfg.model
    assert model.type == "MaskRCNN" and model.backbone.depth == 50 and model.backbone.frozen_stages == 1
    assert model.backbone.init_cfg.checkpoint == "torchvision://resnet50"
    assert model.rpn_head.anchor_generator.strides == [4, 8, 16, 32, 64]
    assert model.roi_head.bbox_head.bbox_coder.target_stds == [0.1, 0.1, 0.2, 0.2]
    assert model.roi_head.mask_head.num_classes == 80 and model.train_cfg.rcnn.mask_size == 28
    assert model.train_cfg.rcnn.assigner.match_low_quality is True  # (False in Faster R-CNN)
    assert model.test_cfg.rcnn.mask_thr_binary == 0.5
    assert cfg.data.train.pipeline[1] == dict(type="LoadAnnotations", with_bbox=True, with_mask=True)
    assert cfg.data.train.pipeline[2].img_scale == (1333, 800)
    assert cfg.data.train.ann_file == "data/coco/annotations/instances_train2017.json"
    assert cfg.evaluation.metric == ["bbox", "segm"]
    assert cfg.custom_hooks == [dict(type="NumClassCheckHook")] and cfg.workflow == [("train", 1)]


def test_faster_rcnn_retinanet_rpn_voc():
    faster = load("faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py")
    assert faster.model.type == "FasterRCNN" and "mask_head" not in faster.model.roi_head
    assert faster.model.train_cfg.rcnn.sampler.num == 512 and faster.evaluation.metric == "bbox"
    retina = load("retinanet/retinanet_r50_fpn_1x_coco.py")
    assert retina.optimizer.lr == 0.01 and retina.model.neck.add_extra_convs == "on_input"
    assert retina.model.bbox_head.anchor_generator.octave_base_scale == 4
    assert retina.model.bbox_head.loss_cls == dict(
        type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0
    )
    rpn = load("rpn/rpn_r50_fpn_1x_coco.py")
    assert rpn.model.type == "RPN" and rpn.evaluation.metric == "proposal_fast"
    assert rpn.data.train.pipeline[-1]["keys"] == ["img", "gt_bboxes"]  # .keys is the dict method
    assert rpn.data.train.type == "CocoDataset"  # merged with the dataset base
    voc = load("pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py")
    assert voc.model.roi_head.bbox_head.num_classes == 20
    assert voc.data.train.type == "RepeatDataset" and voc.data.train.times == 3
    assert voc.runner.max_epochs == 4 and voc.lr_config == dict(policy="step", step=[3])
    assert voc.evaluation.metric == "mAP" and voc.data.test.pipeline[1].img_scale == (1000, 600)
