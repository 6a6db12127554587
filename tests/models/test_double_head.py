"""Double-Head R-CNN: the guide's chapter-7 custom-head example, as shipped modules and as user code."""

from __future__ import annotations

import copy
import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import torch

from detcli.models import build_detector
from detcli.registry import HEADS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("two_stage_cases", Path(__file__).with_name("test_two_stage.py"))
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


def _double_head_cfg(roi_head_type: str = "DoubleHeadRoIHead") -> dict:
    cfg = cases.tiny_cfg()
    cfg["roi_head"]["type"] = roi_head_type
    cfg["roi_head"]["reg_roi_scale_factor"] = 1.3
    cfg["roi_head"]["bbox_head"] = dict(
        type="DoubleConvFCBBoxHead", num_convs=2, num_fcs=2, in_channels=16, conv_out_channels=32,
        fc_out_channels=32, roi_feat_size=7, num_classes=cases.NUM_CLASSES,
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
        reg_class_agnostic=False,
        loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=2.0),
        loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=2.0),
    )
    return cfg


def test_double_conv_fc_bbox_head_names_and_shapes():
    head = HEADS.build(copy.deepcopy(_double_head_cfg()["roi_head"]["bbox_head"]))
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes["res_block.conv1.conv.weight"] == (16, 16, 3, 3)
    assert shapes["res_block.conv1.bn.weight"] == (16,)
    assert shapes["res_block.conv2.conv.weight"] == (32, 16, 1, 1)
    assert shapes["res_block.conv_identity.conv.weight"] == (32, 16, 1, 1)
    assert shapes["conv_branch.1.conv2.weight"] == (8, 8, 3, 3)  # Bottleneck, planes = 32 // 4
    assert shapes["conv_branch.1.conv3.weight"] == (32, 8, 1, 1)
    assert shapes["fc_branch.0.weight"] == (32, 16 * 49)
    assert shapes["fc_cls.weight"] == (3, 32) and shapes["fc_reg.weight"] == (8, 32)
    cls, reg = head(torch.randn(4, 16, 7, 7), torch.randn(4, 16, 7, 7))
    assert cls.shape == (4, 3) and reg.shape == (4, 8)


def test_the_regressor_sees_enlarged_rois():
    model = build_detector(_double_head_cfg()).eval()
    roi_head = model.roi_head
    seen = {}

    def capture(x_cls, x_reg):
        seen["cls"], seen["reg"] = x_cls, x_reg
        return torch.zeros(len(x_cls), 3), torch.zeros(len(x_cls), 8)

    roi_head.bbox_head.forward = capture
    feats = [torch.randn(1, 16, 64 // s, 64 // s) for s in (4, 8, 16, 32)]
    rois = torch.tensor([[0.0, 10, 10, 30, 40]])
    results = roi_head._bbox_forward(feats, rois)
    extractor = roi_head.bbox_roi_extractor
    torch.testing.assert_close(seen["cls"], extractor(feats, rois))
    enlarged = torch.tensor([[0.0, 7, 5.5, 33, 44.5]])  # 20x30 around (20, 25), x1.3
    torch.testing.assert_close(seen["reg"], extractor(feats, enlarged))
    assert results["bbox_feats"] is seen["cls"]


def test_double_head_trains_and_tests():
    model = build_detector(_double_head_cfg())
    model.init_weights()
    model.train()
    losses = model(return_loss=True, **cases.train_batch())
    assert {"loss_cls", "loss_bbox", "acc", "loss_rpn_cls"} <= set(losses)
    sum(v.sum() for k, v in losses.items() if k.startswith("loss") and isinstance(v, torch.Tensor)).backward()
    assert model.roi_head.bbox_head.conv_branch[0].conv1.weight.grad is not None
    model.eval()
    model.roi_head.test_cfg = dict(model.roi_head.test_cfg, score_thr=0.0)
    imgs, metas = cases._test_inputs()
    with torch.no_grad():
        result = model(return_loss=False, rescale=True, img=imgs, img_metas=metas)[0]
    assert len(result) == cases.NUM_CLASSES and all(r.shape[1] == 5 for r in result)


def test_shipped_config_builds_the_guides_model():
    from detcli.config import Config

    cfg = Config.fromfile(str(ROOT / "configs" / "double_heads" / "dh_faster_rcnn_r50_fpn_1x_coco.py"))
    assert cfg.model.roi_head.type == "DoubleHeadRoIHead" and cfg.model.roi_head.reg_roi_scale_factor == 1.3
    # _delete_ replaced the base's box head: no Shared2FCBBoxHead keys survive
    assert "fc_out_channels" in cfg.model.roi_head.bbox_head and "num_shared_fcs" not in cfg.model.roi_head.bbox_head
    assert cfg.model.roi_head.bbox_head.type == "DoubleConvFCBBoxHead"
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    head = model.roi_head.bbox_head
    assert type(head).__name__ == "DoubleConvFCBBoxHead" and len(head.conv_branch) == 4 and len(head.fc_branch) == 2
    assert head.loss_cls.loss_weight == 2.0


GUIDE_ROI_HEAD = '''
from detcli.registry import HEADS
from detcli.models.roi_heads import StandardRoIHead


@HEADS.register_module()
class GuideDoubleHeadRoIHead(StandardRoIHead):
    """RoI head for Double Head RCNN (the guide's code, imports changed to detcli)."""

    def __init__(self, reg_roi_scale_factor, **kwargs):
        super(GuideDoubleHeadRoIHead, self).__init__(**kwargs)
        self.reg_roi_scale_factor = reg_roi_scale_factor

    def _bbox_forward(self, x, rois):
        bbox_cls_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs], rois)
        bbox_reg_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs],
            rois,
            roi_scale_factor=self.reg_roi_scale_factor)
        if self.with_shared_head:
            bbox_cls_feats = self.shared_head(bbox_cls_feats)
            bbox_reg_feats = self.shared_head(bbox_reg_feats)
        cls_score, bbox_pred = self.bbox_head(bbox_cls_feats, bbox_reg_feats)

        bbox_results = dict(
            cls_score=cls_score,
            bbox_pred=bbox_pred,
            bbox_feats=bbox_cls_feats)
        return bbox_results
'''


def test_guide_example_as_user_code_via_custom_imports(tmp_path, monkeypatch):
    from detcli.config import Config

    (tmp_path / "guide_double_roi_head.py").write_text(GUIDE_ROI_HEAD)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg_file = tmp_path / "dh_guide.py"
    cfg_file.write_text(textwrap.dedent(f"""
        custom_imports = dict(imports=['guide_double_roi_head'], allow_failed_imports=False)
        model = {_double_head_cfg('GuideDoubleHeadRoIHead')!r}
    """))
    try:
        cfg = Config.fromfile(str(cfg_file))
        user_model = build_detector(cfg.model)
        shipped = build_detector(_double_head_cfg())
        shipped.load_state_dict(user_model.state_dict())
        for m in (user_model, shipped):
            m.eval()
            m.roi_head.test_cfg = dict(m.roi_head.test_cfg, score_thr=0.0)
        imgs, metas = cases._test_inputs()
        with torch.no_grad():
            ours = shipped(return_loss=False, rescale=True, img=imgs, img_metas=metas)[0]
            theirs = user_model(return_loss=False, rescale=True, img=imgs, img_metas=metas)[0]
        assert sum(len(a) for a in ours) > 0
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    finally:
        HEADS.module_dict.pop("GuideDoubleHeadRoIHead", None)
