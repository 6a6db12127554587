"""Two-stage detectors end to end on a tiny model: build, train losses, test and aug-test outputs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.models import build_detector
from detcli.structures.masks import BitmapMasks

ROOT = Path(__file__).resolve().parents[2]
# a few of mmdetection 2.28.2's own config files, copied unchanged (tests/fixtures/mmdet_2_28/README.md)
MMDET_FIXTURES = ROOT / "tests" / "fixtures" / "mmdet_2_28"
MMDET_CONFIGS = MMDET_FIXTURES / "configs"
NUM_CLASSES = 2


def tiny_cfg(with_mask: bool = False) -> dict:
    """ResNet-18 with 8 base channels, a 16-channel FPN and narrow heads: the R50-FPN layout in miniature."""
    roi_head = dict(
        type="StandardRoIHead",
        bbox_roi_extractor=dict(type="SingleRoIExtractor", roi_layer=dict(type="RoIAlign", output_size=7,
                                sampling_ratio=0), out_channels=16, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(type="Shared2FCBBoxHead", in_channels=16, fc_out_channels=32, roi_feat_size=7,
                       num_classes=NUM_CLASSES,
                       bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                                       target_stds=[0.1, 0.1, 0.2, 0.2]),
                       reg_class_agnostic=False,
                       loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
                       loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    )
    rcnn_train = dict(
        assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                      match_low_quality=True, ignore_iof_thr=-1),
        sampler=dict(type="RandomSampler", num=64, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
        pos_weight=-1, debug=False,
    )
    rcnn_test = dict(score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5), max_per_img=20)
    if with_mask:
        roi_head["mask_roi_extractor"] = dict(type="SingleRoIExtractor", roi_layer=dict(
            type="RoIAlign", output_size=14, sampling_ratio=0), out_channels=16, featmap_strides=[4, 8, 16, 32])
        roi_head["mask_head"] = dict(type="FCNMaskHead", num_convs=2, in_channels=16, conv_out_channels=16,
                                     num_classes=NUM_CLASSES,
                                     loss_mask=dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0))
        rcnn_train["mask_size"] = 28
        rcnn_test["mask_thr_binary"] = 0.5
    return dict(
        type="MaskRCNN" if with_mask else "FasterRCNN",
        backbone=dict(type="ResNet", depth=18, base_channels=8, num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=-1, norm_cfg=dict(type="BN", requires_grad=True), norm_eval=False,
                      style="pytorch", init_cfg=None),
        neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5),
        rpn_head=dict(type="RPNHead", in_channels=16, feat_channels=16,
                      anchor_generator=dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0],
                                            strides=[4, 8, 16, 32, 64]),
                      bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
                      loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
                      loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
        roi_head=roi_head,
        train_cfg=dict(
            rpn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                                   match_low_quality=True, ignore_iof_thr=-1),
                     sampler=dict(type="RandomSampler", num=64, pos_fraction=0.5, neg_pos_ub=-1,
                                  add_gt_as_proposals=False),
                     allowed_border=-1, pos_weight=-1, debug=False),
            rpn_proposal=dict(nms_pre=200, max_per_img=100, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0),
            rcnn=rcnn_train,
        ),
        test_cfg=dict(
            rpn=dict(nms_pre=200, max_per_img=100, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0),
            rcnn=rcnn_test,
        ),
    )


def meta(h=96, w=128, flip=False, scale=1.0):
    return dict(filename="synthetic.png", ori_filename="synthetic.png", ori_shape=(h, w, 3),
                img_shape=(int(h * scale), int(w * scale), 3), pad_shape=(int(h * scale), int(w * scale), 3),
                scale_factor=np.full(4, scale, dtype=np.float32), flip=flip,
                flip_direction="horizontal" if flip else None,
                img_norm_cfg=dict(mean=np.zeros(3), std=np.ones(3), to_rgb=False))


def train_batch(with_mask=False, h=96, w=128):
    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[10.0, 12.0, 50.0, 60.0], [60.0, 30.0, 120.0, 90.0]])
    batch = dict(img=torch.randn(1, 3, h, w, generator=g), img_metas=[meta(h, w)], gt_bboxes=[boxes],
                 gt_labels=[torch.tensor([0, 1])])
    if with_mask:
        masks = np.zeros((2, h, w), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            masks[i, y1:y2, x1:x2] = 1
        batch["gt_masks"] = [BitmapMasks(masks, h, w)]
    return batch


def _build(cfg):
    cfg = copy.deepcopy(cfg)
    model = build_detector(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize("with_mask", [False, True])
def test_train_losses(with_mask):
    model = _build(tiny_cfg(with_mask)).train()
    losses = model(return_loss=True, **train_batch(with_mask))
    expected = {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox"} | ({"loss_mask"} if with_mask else set())
    assert set(losses) == expected
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.roi_head.bbox_head.fc_cls.weight.grad.abs().sum() > 0
    if with_mask:
        assert model.roi_head.mask_head.conv_logits.weight.grad.abs().sum() > 0


def test_train_step_contract():
    model = _build(tiny_cfg()).train()
    out = model.train_step(train_batch(), None)
    assert set(out) == {"loss", "log_vars", "num_samples"} and out["num_samples"] == 1
    assert out["loss"].requires_grad and "loss_cls" in out["log_vars"]


def _test_inputs(n_aug=1, h=96, w=128):
    g = torch.Generator().manual_seed(1)
    img = torch.randn(1, 3, h, w, generator=g)
    imgs = [img, img.flip(-1)][:n_aug]
    metas = [[meta(h, w)], [meta(h, w, flip=True)]][:n_aug]
    return imgs, metas


def _check_bbox_result(bbox_result):
    assert len(bbox_result) == NUM_CLASSES
    for arr in bbox_result:
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float32 and arr.ndim == 2 and arr.shape[1] == 5


@pytest.mark.parametrize("with_mask", [False, True])
def test_simple_test_result_format(with_mask):
    model = _build(tiny_cfg(with_mask)).eval()
    # make sure something is detected: a score threshold of 0 with random weights
    model.roi_head.test_cfg = dict(model.roi_head.test_cfg, score_thr=0.0)
    imgs, metas = _test_inputs()
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, img=imgs, img_metas=metas)
    assert len(results) == 1
    if not with_mask:
        _check_bbox_result(results[0])
        assert sum(len(a) for a in results[0]) > 0
        return
    bbox_result, segm_result = results[0]
    _check_bbox_result(bbox_result)
    assert [len(s) for s in segm_result] == [len(b) for b in bbox_result]
    first = next(s[0] for s in segm_result if s)
    assert first.shape == (96, 128) and first.dtype == bool


@pytest.mark.parametrize("with_mask", [False, True])
def test_aug_test_merges_flipped_results(with_mask):
    model = _build(tiny_cfg(with_mask)).eval()
    model.roi_head.test_cfg = dict(model.roi_head.test_cfg, score_thr=0.0)
    imgs, metas = _test_inputs(n_aug=2)
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, img=imgs, img_metas=metas)
    assert len(results) == 1
    bbox_result = results[0][0] if with_mask else results[0]
    _check_bbox_result(bbox_result)
    boxes = np.concatenate(bbox_result)
    assert len(boxes) > 0 and boxes[:, [0, 2]].min() >= 0 and boxes[:, [0, 2]].max() <= 128
    if with_mask:
        assert [len(s) for s in results[0][1]] == [len(b) for b in bbox_result]


def test_aug_test_of_an_image_and_its_own_flip_is_flip_invariant():
    """Averaging an image with its flip and the flip with its own flip gives mirrored detections."""
    model = _build(tiny_cfg()).eval()
    model.roi_head.test_cfg = dict(model.roi_head.test_cfg, score_thr=0.0)
    imgs, metas = _test_inputs(n_aug=2)
    with torch.no_grad():
        a = model(return_loss=False, rescale=True, img=imgs, img_metas=metas)[0]
        b = model(return_loss=False, rescale=True, img=imgs[::-1], img_metas=metas)[0]
    for cls_a, cls_b in zip(a, b):
        mirrored = cls_b.copy()
        mirrored[:, 0], mirrored[:, 2] = 128 - cls_b[:, 2], 128 - cls_b[:, 0]
        order_a = np.lexsort(cls_a.T[::-1])
        order_b = np.lexsort(mirrored.T[::-1])
        np.testing.assert_allclose(cls_a[order_a], mirrored[order_b], rtol=1e-4, atol=1e-3)


def test_fast_rcnn_with_given_proposals():
    cfg = tiny_cfg()
    cfg["type"] = "FastRCNN"
    cfg.pop("rpn_head")
    cfg["train_cfg"].pop("rpn")
    cfg["train_cfg"].pop("rpn_proposal")
    cfg["test_cfg"].pop("rpn")
    model = _build(cfg).train()
    proposals = [torch.tensor([[8.0, 10, 52, 62], [58.0, 28, 118, 92], [0.0, 0, 40, 40]])]
    losses = model(return_loss=True, proposals=proposals, **train_batch())
    assert {"loss_cls", "loss_bbox", "acc"} <= set(losses) and "loss_rpn_cls" not in losses
    model.eval()
    model.roi_head.test_cfg = dict(model.roi_head.test_cfg, score_thr=0.0)
    imgs, metas = _test_inputs()
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, img=imgs, img_metas=metas, proposals=[proposals])
    _check_bbox_result(results[0])
    assert 0 < sum(len(r) for r in results[0]) <= 3 * NUM_CLASSES


def test_forward_dummy_shapes():
    model = _build(tiny_cfg(with_mask=True)).eval()
    with torch.no_grad():
        rpn_outs, roi_outs = model.forward_dummy(torch.randn(1, 3, 64, 64))
    cls_score, bbox_pred, mask_pred = roi_outs
    assert cls_score.shape == (1000, NUM_CLASSES + 1) and bbox_pred.shape == (1000, 4 * NUM_CLASSES)
    assert mask_pred.shape == (100, NUM_CLASSES, 28, 28)


def test_config_is_not_modified_by_building():
    cfg = tiny_cfg(with_mask=True)
    before = copy.deepcopy(cfg)
    build_detector(cfg)
    assert cfg == before


# -- the shipped configs and mmdetection 2.28's own ----------------------------------------
def _key_names_of_reference() -> set[str]:
    path = MMDET_FIXTURES / "models" / "faster_rcnn_r50_fpn_small" / "state_dict_keys.txt"
    return {line.split(" ", 1)[0] for line in path.read_text().splitlines()}


def _build_from_file(path: Path):
    from detcli.config import Config

    cfg = Config.fromfile(str(path))
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None  # no torchvision:// download
    return build_detector(model_cfg, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))


@pytest.mark.parametrize("name", ["faster_rcnn_r50_fpn.py", "mask_rcnn_r50_fpn.py", "fast_rcnn_r50_fpn.py"])
def test_build_from_base_model_configs(name):
    model = _build_from_file(ROOT / "configs" / "_base_" / "models" / name)
    expected = {"faster": "FasterRCNN", "mask_": "MaskRCNN", "fast_r": "FastRCNN"}
    assert type(model).__name__ == next(v for k, v in expected.items() if name.startswith(k))
    if name.startswith("faster"):
        assert set(model.state_dict()) == _key_names_of_reference()
    if name.startswith("mask"):
        keys = set(model.state_dict())
        assert "roi_head.mask_head.convs.3.conv.weight" in keys and "roi_head.mask_head.upsample.weight" in keys
        assert model.roi_head.mask_head.conv_logits.weight.shape == (80, 256, 1, 1)


@pytest.mark.parametrize(
    "rel",
    [
        "faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py",
        "mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py",
        "fast_rcnn/fast_rcnn_r50_fpn_1x_coco.py",
        "faster_rcnn/faster_rcnn_r50_fpn_giou_1x_coco.py",
        "double_heads/dh_faster_rcnn_r50_fpn_1x_coco.py",
        "gn/mask_rcnn_r50_fpn_gn-all_2x_coco.py",
        "faster_rcnn/faster_rcnn_r50_caffe_c4_1x_coco.py",
        "mask_rcnn/mask_rcnn_r50_caffe_c4_1x_coco.py",
    ],
)
def test_build_from_mmdetection_configs(rel):
    """mmdetection 2.28's own files (the copies in tests/fixtures/mmdet_2_28/configs)."""
    model = _build_from_file(MMDET_CONFIGS / rel)
    assert model.with_bbox
    if "c4" in rel:
        assert model.roi_head.with_shared_head and "roi_head.shared_head.layer4.0.conv1.weight" in model.state_dict()
