"""Detector building (from our configs and mmdetection 2.28's), the call protocol and the runner API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.errors import ConfigError
from detcli.models import build_detector
from detcli.models.detectors import RPN, BaseDetector, RetinaNet

REPO = Path(__file__).resolve().parents[2]
# a few of mmdetection 2.28.2's own config files, copied unchanged (tests/fixtures/mmdet_2_28/README.md)
MMDET_FIXTURES = REPO / "tests" / "fixtures" / "mmdet_2_28"
MMDET_CONFIGS = MMDET_FIXTURES / "configs"


def _config(path: Path):
    from detcli.config import Config

    return Config.fromfile(str(path))


def _fixture_key_names(name: str, parts: tuple[str, ...]) -> set[str]:
    path = MMDET_FIXTURES / "models" / name / "state_dict_keys.txt"
    keys = {line.split(" ", 1)[0] for line in path.read_text().splitlines()}
    return {k for k in keys if k.split(".")[0] in parts}


@pytest.mark.parametrize("path", [REPO / "configs/retinanet/retinanet_r50_fpn_1x_coco.py",
                                  REPO / "configs/_base_/models/retinanet_r50_fpn.py",
                                  MMDET_CONFIGS / "retinanet/retinanet_r50_fpn_1x_coco.py"],
                         ids=["ours", "ours-base", "mmdet"])
def test_retinanet_builds_from_config_files_with_official_key_names(path):
    cfg = _config(path)
    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    assert isinstance(model, RetinaNet) and model.bbox_head.num_classes == 80
    assert set(model.state_dict()) == _fixture_key_names("retinanet_r50_fpn_small", ("backbone", "neck", "bbox_head"))
    assert model.bbox_head.retina_cls.weight.shape == (9 * 80, 256, 3, 3)
    assert model.backbone.init_cfg == dict(type="Pretrained", checkpoint="torchvision://resnet50")


@pytest.mark.parametrize("path", [REPO / "configs/rpn/rpn_r50_fpn_1x_coco.py",
                                  REPO / "configs/_base_/models/rpn_r50_fpn.py",
                                  MMDET_CONFIGS / "rpn/rpn_r50_fpn_1x_coco.py"], ids=["ours", "ours-base", "mmdet"])
def test_rpn_builds_from_config_files_with_official_key_names(path):
    cfg = _config(path)
    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    assert isinstance(model, RPN) and model.rpn_head.test_cfg["max_per_img"] == 1000
    assert set(model.state_dict()) == _fixture_key_names("faster_rcnn_r50_fpn_small", ("backbone", "neck", "rpn_head"))


@pytest.mark.slow
def test_every_mmdet_retinanet_and_rpn_config_builds(mmdet_config_tree):
    paths = [p for folder in ("retinanet", "rpn") for p in sorted((mmdet_config_tree / folder).glob("*.py"))
             if not p.name.startswith("ascend")]
    assert len(paths) > 20
    failures = {}
    for path in paths:
        try:
            cfg = _config(path)
            model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
            assert isinstance(model, (RetinaNet, RPN))
            with torch.no_grad():
                outs = model.eval().forward_dummy(torch.zeros(1, 3, 64, 64))
            assert len(outs) == 2
        except Exception as err:  # noqa: BLE001 - collect every failing config, then report them all
            failures[path.name] = f"{type(err).__name__}: {err}"
    assert not failures, failures


TINY = dict(
    type="RetinaNet",
    backbone=dict(type="ResNet", depth=18, base_channels=4, out_indices=(1, 2, 3)),
    neck=dict(type="FPN", in_channels=[8, 16, 32], out_channels=8, num_outs=3),
    bbox_head=dict(type="RetinaHead", num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1,
                   anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=1,
                                         ratios=[1.0], strides=[8, 16, 32]),
                   loss_cls=dict(type="FocalLoss", use_sigmoid=True), loss_bbox=dict(type="L1Loss")),
)
TRAIN = dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0),
             allowed_border=-1, pos_weight=-1)
TEST = dict(nms_pre=100, min_bbox_size=0, score_thr=0.0, nms=dict(type="nms", iou_threshold=0.5), max_per_img=5)


def meta(scale=1.0):
    return dict(img_shape=(64, 64, 3), ori_shape=(64, 64, 3), pad_shape=(64, 64, 3), flip=False,
                flip_direction=None, scale_factor=np.full(4, scale, dtype=np.float32))


def test_legacy_top_level_cfgs_and_conflicts():
    with pytest.warns(UserWarning, match="deprecated"):
        model = build_detector(TINY, train_cfg=TRAIN, test_cfg=TEST)
    assert model.bbox_head.train_cfg == TRAIN and model.bbox_head.test_cfg == TEST
    with pytest.raises(ConfigError, match="both"):
        build_detector(dict(TINY, test_cfg=TEST), test_cfg=TEST)
    old = build_detector(dict(TINY, pretrained="torchvision://resnet18", train_cfg=TRAIN, test_cfg=TEST))
    assert old.backbone.init_cfg == dict(type="Pretrained", checkpoint="torchvision://resnet18")
    assert "pretrained" not in TINY  # the config was not modified


def test_forward_dispatch_batch_input_shape_and_result_format():
    model = build_detector(dict(TINY, train_cfg=TRAIN, test_cfg=TEST)).eval()
    img = torch.randn(2, 3, 64, 64)
    metas = [meta(), meta(scale=2.0)]
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, img=[img], img_metas=[metas])
        plain = model(return_loss=False, rescale=True, img=img, img_metas=metas)  # no augmentation lists
    assert metas[0]["batch_input_shape"] == (64, 64)
    assert len(results) == 2 and len(results[0]) == 2
    assert all(r.dtype == np.float32 and r.shape[1] == 5 for r in results[0])
    assert sum(len(r) for r in results[0]) == 5  # max_per_img
    assert max(r[:, :4].max() for r in results[1] if len(r)) <= 32  # rescaled by 1/2
    for a, b in zip(results[0], plain[0]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="augmentations"):
        model(return_loss=False, img=[img], img_metas=[metas, metas])


def test_parse_losses_train_and_val_step():
    losses = dict(loss_cls=[torch.tensor([1.0, 3.0]), torch.tensor(2.0)], loss_bbox=torch.tensor([0.5, 1.5]),
                  acc=torch.tensor(90.0))
    total, log_vars = BaseDetector._parse_losses(None, losses)
    assert total.item() == 5.0  # (2 + 2) + 1, 'acc' is logged, not added
    assert dict(log_vars) == {"loss_cls": 4.0, "loss_bbox": 1.0, "acc": 90.0, "loss": 5.0}
    with pytest.raises(TypeError, match="acc"):
        BaseDetector._parse_losses(None, dict(acc="high"))

    model = build_detector(dict(TINY, train_cfg=TRAIN, test_cfg=TEST))
    data = dict(img=torch.randn(2, 3, 64, 64), img_metas=[meta(), meta()],
                gt_bboxes=[torch.tensor([[4.0, 4, 30, 30]]), torch.zeros(0, 4)],
                gt_labels=[torch.tensor([1]), torch.zeros(0, dtype=torch.long)])
    out = model.train_step(data, None)
    assert set(out) == {"loss", "log_vars", "num_samples"} and out["num_samples"] == 2
    assert out["loss"].requires_grad and set(out["log_vars"]) == {"loss_cls", "loss_bbox", "loss"}
    val = model.val_step(data)
    assert set(val["log_vars"]) == {"loss_cls_val", "loss_bbox_val", "loss_val"}


def test_show_result_draws_or_writes(tmp_path):
    model = build_detector(dict(TINY, train_cfg=TRAIN, test_cfg=TEST))
    model.CLASSES = ("cat", "dog")
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    result = [np.array([[5, 5, 40, 40, 0.9]], dtype=np.float32), np.zeros((0, 5), dtype=np.float32)]
    drawn = model.show_result(img, result, score_thr=0.3)
    assert drawn.shape == img.shape and drawn.any() and not img.any()
    out = tmp_path / "vis" / "out.png"
    assert model.show_result(img, result, out_file=str(out)) is None and out.is_file()


def test_rpn_detector_trains_and_returns_rescaled_numpy_proposals():
    rpn_head = dict(type="RPNHead", in_channels=8, feat_channels=8,
                    anchor_generator=dict(type="AnchorGenerator", scales=[4], ratios=[1.0], strides=[8, 16, 32]),
                    bbox_coder=dict(type="DeltaXYWHBBoxCoder"),
                    loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True), loss_bbox=dict(type="L1Loss"))
    train = dict(rpn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3),
                          sampler=dict(type="RandomSampler", num=32, pos_fraction=0.5, neg_pos_ub=-1,
                                       add_gt_as_proposals=False),
                          allowed_border=-1, pos_weight=-1))
    test = dict(rpn=dict(nms_pre=50, max_per_img=20, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0))
    model = build_detector(dict(type="RPN", backbone=TINY["backbone"], neck=TINY["neck"], rpn_head=rpn_head,
                                train_cfg=train, test_cfg=test))
    losses = model(img=torch.randn(1, 3, 64, 64), img_metas=[meta()], gt_bboxes=[torch.tensor([[4.0, 4, 36, 36]])])
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_bbox"} and len(losses["loss_rpn_cls"]) == 3
    model.eval()
    with torch.no_grad():
        full = model(return_loss=False, rescale=False, img=[torch.ones(1, 3, 64, 64)], img_metas=[[meta(2.0)]])[0]
        half = model(return_loss=False, rescale=True, img=[torch.ones(1, 3, 64, 64)], img_metas=[[meta(2.0)]])[0]
    assert isinstance(half, np.ndarray) and 0 < len(half) <= 20
    np.testing.assert_allclose(half[:, :4], full[:, :4] / 2, rtol=1e-6)
    drawn = model.show_result(np.zeros((64, 64, 3), np.uint8), half, top_k=3)
    assert drawn.shape == (64, 64, 3)
