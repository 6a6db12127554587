"""SCNet: its heads and the RoI head's training and inference on a tiny model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cascade_toys import build, cascade_cfg, meta, train_batch  # noqa: E402

from detcli.registry import HEADS  # noqa: E402


def scnet_cfg() -> dict:
    cfg = cascade_cfg("htc", semantic=True)
    roi = cfg["roi_head"]
    for head in roi["bbox_head"]:
        head["type"] = "SCNetBBoxHead"
        head["num_shared_fcs"] = 2
    cfg["type"] = "SCNet"
    cfg["roi_head"] = dict(
        type="SCNetRoIHead", num_stages=3, stage_loss_weights=[1, 0.5, 0.25],
        bbox_roi_extractor=roi["bbox_roi_extractor"], bbox_head=roi["bbox_head"],
        mask_roi_extractor=roi["mask_roi_extractor"],
        mask_head=dict(type="SCNetMaskHead", num_convs=4, in_channels=16, conv_out_channels=16, num_classes=2,
                       conv_to_res=True),
        semantic_roi_extractor=roi["semantic_roi_extractor"],
        semantic_head=dict(roi["semantic_head"], type="SCNetSemanticHead", num_convs=2, conv_to_res=True),
        glbctx_head=dict(type="GlobalContextHead", num_convs=2, in_channels=16, conv_out_channels=16, num_classes=2,
                         loss_weight=3.0, conv_to_res=True),
        feat_relay_head=dict(type="FeatureRelayHead", in_channels=32, out_conv_channels=16, roi_feat_size=7,
                             scale_factor=2))
    return cfg


def test_relay_and_global_context_heads():
    relay = HEADS.build(dict(type="FeatureRelayHead", in_channels=8, out_conv_channels=4, roi_feat_size=7))
    assert relay(torch.randn(3, 8)).shape == (3, 4, 14, 14) and relay(torch.zeros(0, 8)) is None
    glbctx = HEADS.build(dict(type="GlobalContextHead", num_convs=2, in_channels=4, conv_out_channels=4,
                              num_classes=3, loss_weight=2.0, conv_to_res=True))
    logits, feat = glbctx([torch.randn(2, 4, 16, 16), torch.randn(2, 4, 8, 8)])
    assert logits.shape == (2, 3) and feat.shape == (2, 4, 1, 1) and len(glbctx.convs) == 1
    loss = glbctx.loss(logits, [torch.tensor([0, 2, 2]), torch.tensor([1])])
    targets = torch.tensor([[1.0, 0, 1], [0, 1, 0]])  # which classes each image contains
    torch.testing.assert_close(loss, 2.0 * torch.nn.functional.binary_cross_entropy_with_logits(logits, targets))
    mask_head = HEADS.build(dict(type="SCNetMaskHead", num_convs=4, in_channels=8, conv_out_channels=8,
                                 num_classes=2))
    assert len(mask_head.convs) == 2 and "convs.1.conv2.bias" in mask_head.state_dict()  # no norm: biased convs


def test_scnet_trains_and_detects():
    torch.manual_seed(0)
    model = build(scnet_cfg()).train()
    losses = model(return_loss=True, **train_batch(with_mask=True, semantic=True))
    expected = ({"loss_rpn_cls", "loss_rpn_bbox", "loss_semantic_seg", "loss_glbctx", "loss_mask"}
                | {f"s{i}.{k}" for i in range(3) for k in ("loss_cls", "acc", "loss_bbox")})
    assert set(losses) == expected
    total, _ = model._parse_losses(losses)
    total.backward()
    roi_head = model.roi_head
    for module in (roi_head.feat_relay_head.fc, roi_head.glbctx_head.fc, roi_head.mask_head.conv_logits,
                   roi_head.semantic_head.conv_logits):
        assert module.weight.grad.abs().sum() > 0
    model.eval()
    img = train_batch()["img"]
    with torch.no_grad():
        plain = model(return_loss=False, rescale=True, img=[img], img_metas=[[meta()]])[0]
        flipped = model(return_loss=False, rescale=True, img=[img, img.flip(-1)],
                        img_metas=[[meta()], [meta(flip=True)]])[0]
    for bbox_result, segm_result in (plain, flipped):
        assert sum(len(b) for b in bbox_result) > 0
        assert [len(s) for s in segm_result] == [len(b) for b in bbox_result]
        assert all(isinstance(m, np.ndarray) and m.shape == (96, 128) for s in segm_result for m in s)
