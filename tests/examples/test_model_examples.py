"""The custom model parts of the guide's chapter 七/八 (backbone, neck, head, loss), each trained
for one short epoch from its example config, and checked to be the part that ran."""

from __future__ import annotations

import math

import pytest
import torch
from example_runs import FAST_CLI, det, json_log, train

from detcli.config import Config
from detcli.models import build_detector


def finite_losses(work_dir, *keys):
    lines = [d for d in json_log(work_dir) if d.get("mode") == "train"]
    assert len(lines) == 2  # 4 images, 2 a batch, one epoch
    for key in ("loss", *keys):
        assert all(math.isfinite(d[key]) and d[key] > 0 for d in lines), key
    return lines


def test_custom_backbone_mobilenet(example, tmp_path):
    folder = example("custom_backbone")
    config = folder / "faster_rcnn_mobilenet_shapes.py"
    work = tmp_path / "work"
    assert det("train", config, "--work-dir", work, "--device", "cpu", "--seed", "0", "--cfg-options", *FAST_CLI) == 0
    finite_losses(work, "loss_rpn_cls", "loss_cls", "loss_bbox")
    state = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)["state_dict"]
    assert "backbone.stem.conv.weight" in state and not any(k.startswith("backbone.layer1") for k in state)
    # a depth-wise conv: one 3x3 filter per channel
    assert state["backbone.stages.1.0.0.conv.weight"].shape == (16, 1, 3, 3)

    cfg = Config.fromfile(config)
    backbone = build_detector(cfg.model).backbone
    assert type(backbone).__name__ == "MobileNet" and "ResNet" not in str(cfg.model.backbone)  # _delete_
    feats = backbone(torch.zeros(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (256, 2, 2)]


def test_custom_neck_pafpn(example, tmp_path):
    folder = example("custom_neck")
    runner = train(folder / "faster_rcnn_pafpn_shapes.py", tmp_path / "work")
    finite_losses(tmp_path / "work", "loss_rpn_cls", "loss_bbox")
    neck = runner.model.neck
    assert type(neck).__name__ == "MyPAFPN" and len(neck.downsample_convs) == 3
    neck.eval()
    inputs = [torch.randn(1, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate([32, 64, 128, 256])]
    outs = neck(inputs)
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 32, 32), (64, 16, 16), (64, 8, 8), (64, 4, 4), (64, 2, 2)]
    # the bottom-up path: the finest input reaches the coarsest output (it does not in an FPN)
    changed = [inputs[0] + 1.0, *inputs[1:]]
    with torch.no_grad():
        assert not torch.allclose(neck(changed)[3], outs[3].detach())


def test_custom_head_double_head(example, tmp_path):
    folder = example("custom_head")
    runner = train(folder / "faster_rcnn_double_head_shapes.py", tmp_path / "work")
    finite_losses(tmp_path / "work", "loss_cls", "loss_bbox")
    roi_head = runner.model.roi_head
    assert type(roi_head).__name__ == "MyDoubleHeadRoIHead" and roi_head.reg_roi_scale_factor == 1.3
    assert type(roi_head.bbox_head).__name__ == "MyDoubleConvFCBBoxHead" and len(roi_head.bbox_head.conv_branch) == 2
    # _bbox_forward feeds the regression branch RoIs enlarged 1.3x, the classification branch the RoIs
    roi_head.eval()
    x = [torch.randn(1, 64, 40 // 2**i, 40 // 2**i) for i in range(5)]
    rois = torch.tensor([[0.0, 20, 30, 60, 90], [0.0, 50, 50, 100, 70]])
    with torch.no_grad():
        got = roi_head._bbox_forward(x, rois)
        extractor = roi_head.bbox_roi_extractor
        cls_feats, reg_feats = extractor(x[:4], rois), extractor(x[:4], rois, roi_scale_factor=1.3)
        cls_score, bbox_pred = roi_head.bbox_head(cls_feats, reg_feats)
        _, pred_unscaled = roi_head.bbox_head(cls_feats, cls_feats)
    assert torch.equal(got["cls_score"], cls_score) and torch.equal(got["bbox_pred"], bbox_pred)
    assert not torch.allclose(bbox_pred, pred_unscaled)


def test_custom_loss_my_loss(example, tmp_path):
    folder = example("custom_loss")
    runner = train(folder / "faster_rcnn_my_loss_shapes.py", tmp_path / "work")
    finite_losses(tmp_path / "work", "loss_bbox")
    loss = runner.model.roi_head.bbox_head.loss_bbox
    assert type(loss).__name__ == "MyLoss"
    # @weighted_loss: element-wise weight, then sum / avg_factor; reduction_override; loss_weight
    pred, target = torch.tensor([[1.0, 2.0], [3.0, 5.0]]), torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    weight = torch.tensor([[1.0, 0.5], [0.0, 2.0]])
    assert loss(pred, target).item() == pytest.approx((1 + 2 + 0 + 1) / 4)
    assert loss(pred, target, weight, avg_factor=2.0).item() == pytest.approx((1 + 1 + 0 + 2) / 2)
    assert loss(pred, target, reduction_override="none").tolist() == [[1.0, 2.0], [0.0, 1.0]]
    assert type(loss)(loss_weight=3.0)(pred, target, reduction_override="sum").item() == pytest.approx(12.0)


def test_focal_loss_tweaks_from_the_config(example, tmp_path):
    folder = example("custom_loss")
    runner = train(folder / "retinanet_focal_loss_tweaks_shapes.py", tmp_path / "work")
    finite_losses(tmp_path / "work", "loss_cls", "loss_bbox")
    focal = runner.model.bbox_head.loss_cls
    assert (type(focal).__name__, focal.gamma, focal.alpha, focal.loss_weight) == ("FocalLoss", 1.5, 0.5, 0.5)
