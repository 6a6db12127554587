"""Models made ready for inference: BatchNorm folded by default, switchable, and guarded against reuse."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detcli.config import Config
from detcli.engine.inference_setup import prepare_for_inference, wants_fused_conv_bn
from detcli.errors import ConfigError, DetError
from detcli.models.layers import ConvModule
from detcli.tools.fuse_conv_bn import fuse_conv_bn

TINY = dict(
    type="FasterRCNN",
    backbone=dict(type="ResNet", depth=18, base_channels=8, num_stages=4, out_indices=(0, 1, 2, 3),
                  norm_cfg=dict(type="BN", requires_grad=True), init_cfg=None),
    neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5),
    rpn_head=dict(type="RPNHead", in_channels=16, feat_channels=16,
                  anchor_generator=dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0],
                                        strides=[4, 8, 16, 32, 64]),
                  bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4)),
    roi_head=dict(type="StandardRoIHead",
                  bbox_roi_extractor=dict(type="SingleRoIExtractor", out_channels=16, featmap_strides=[4, 8, 16, 32],
                                          roi_layer=dict(type="RoIAlign", output_size=7, sampling_ratio=0)),
                  bbox_head=dict(type="Shared2FCBBoxHead", in_channels=16, fc_out_channels=32, roi_feat_size=7,
                                 num_classes=3,
                                 bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                                                 target_stds=[0.1, 0.1, 0.2, 0.2]))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0),
                  rcnn=dict(score_thr=0.0, nms=dict(type="nms", iou_threshold=0.5), max_per_img=30)),
)


def _tiny_model(seed: int = 0) -> nn.Module:
    from detcli.models import build_detector

    torch.manual_seed(seed)
    model = build_detector(Config(dict(model=TINY)).model)
    model.init_weights()
    for m in model.modules():  # BN statistics far from the identity, so folding them matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


def _detect(model: nn.Module, img: torch.Tensor) -> list:
    meta = dict(img_shape=(96, 128, 3), ori_shape=(96, 128, 3), pad_shape=(96, 128, 3), scale_factor=1.0,
                flip=False)
    with torch.no_grad():
        return model(return_loss=False, rescale=True, img=[img], img_metas=[[meta]])[0]


def test_prepared_model_is_fused_and_gives_the_same_detections():
    img = torch.randn(1, 3, 96, 128)
    plain = _tiny_model().eval()
    want = _detect(plain, img)
    prepared = prepare_for_inference(_tiny_model(), Config(dict(model=TINY)), "cpu", fuse_conv_bn=True)
    assert not prepared.training and prepared.conv_bn_fused is True
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    got = _detect(prepared, img)
    assert sum(len(b) for b in want) > 10
    for a, b in zip(want, got):
        assert a.shape == b.shape
        torch.testing.assert_close(torch.from_numpy(b), torch.from_numpy(a), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(("cfg_value", "explicit", "fused"), [
    (None, None, False), (True, None, True), (False, None, False), (False, True, True), (True, False, False),
    (None, True, True)])
def test_config_key_and_explicit_choice(cfg_value, explicit, fused):
    cfg = Config(dict(model=TINY) if cfg_value is None else dict(model=TINY, fuse_conv_bn=cfg_value))
    assert wants_fused_conv_bn(cfg, explicit) is fused
    model = prepare_for_inference(_tiny_model(), cfg, "cpu", fuse_conv_bn=explicit)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) is not fused


def test_bad_config_value():
    with pytest.raises(ConfigError, match="fuse_conv_bn must be True or False, got 'yes'"):
        wants_fused_conv_bn(Config(dict(fuse_conv_bn="yes")))


def test_fused_model_refuses_weights_and_training(tmp_path):
    from detcli.apis import train_detector
    from detcli.engine.checkpoint import load_checkpoint

    model = _tiny_model()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "w.pth")
    prepare_for_inference(model, Config(dict(model=TINY)), "cpu", fuse_conv_bn=True)
    with pytest.raises(DetError, match="cannot load .*w.pth: this model has its BatchNorm layers folded"):
        load_checkpoint(model, str(tmp_path / "w.pth"))
    with pytest.raises(DetError, match="cannot train: this model has its BatchNorm layers folded"):
        train_detector(model, [], Config(dict(model=TINY)))


class _StandardisedConv(nn.Conv2d):
    """A conv that rescales its weight in forward (as weight standardisation does)."""

    def forward(self, x):
        return self._conv_forward(x, self.weight / self.weight.abs().max(), self.bias)


def test_only_plain_conv_then_bn_pairs_are_folded():
    norm_first = ConvModule(8, 8, 3, padding=1, norm_cfg=dict(type="BN"), order=("norm", "conv", "act")).eval()
    fuse_conv_bn(norm_first)
    assert isinstance(norm_first.bn, nn.BatchNorm2d)  # same channel count, but the BN runs before the conv

    between = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    fuse_conv_bn(between)
    assert isinstance(between[2], nn.BatchNorm2d)  # a ReLU in between: not a conv + BN pair

    special = nn.Sequential(_StandardisedConv(3, 4, 3), nn.BatchNorm2d(4)).eval()
    fuse_conv_bn(special)
    assert isinstance(special[1], nn.BatchNorm2d)

    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    plain[1].running_var.fill_(4.0)
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        want = plain(x)
        fuse_conv_bn(plain)
        got = plain(x)
    assert isinstance(plain[1], nn.Identity)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
