"""The guide's chapter-7 recipes with detcli imports: a new backbone and a new neck, imported
through ``custom_imports`` in a config file, used inside a RetinaNet that trains and tests."""

from __future__ import annotations

import textwrap

import numpy as np
import torch

BACKBONE_MODULE = '''
import torch.nn as nn

from detcli.models.builder import BACKBONES


@BACKBONES.register_module()
class GuideMobileNet(nn.Module):

    def __init__(self, arg1, arg2):
        super().__init__()
        self.stem = nn.Conv2d(3, arg1, 3, stride=8, padding=1)
        self.down = nn.Conv2d(arg1, arg2, 3, stride=2, padding=1)

    def forward(self, x):  # should return a tuple
        c3 = self.stem(x)
        return (c3, self.down(c3))

    def init_weights(self, pretrained=None):
        pass
'''

NECK_MODULE = '''
import torch.nn as nn
import torch.nn.functional as F

from detcli.models.builder import NECKS


@NECKS.register
class GuidePAFPN(nn.Module):

    def __init__(self, in_channels, out_channels, num_outs, start_level=0, end_level=-1, add_extra_convs=False):
        super().__init__()
        self.num_outs = num_outs
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)

    def forward(self, inputs):
        outs = [conv(x) for conv, x in zip(self.lateral, inputs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
'''

CONFIG = '''
custom_imports = dict(imports=['guide_mobilenet', 'guide_pafpn'], allow_failed_imports=False)
model = dict(
    type='RetinaNet',
    backbone=dict(type='GuideMobileNet', arg1=8, arg2=16),
    neck=dict(type='GuidePAFPN', in_channels=[8, 16], out_channels=8, num_outs=3),
    bbox_head=dict(
        type='RetinaHead', num_classes=2, in_channels=8, stacked_convs=1, feat_channels=8,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                              ratios=[1.0], strides=[8, 16, 32]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                                 ignore_iof_thr=-1), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=7))
'''


def test_backbone_and_neck_from_custom_imports(tmp_path, monkeypatch):
    from detcli.config import Config
    from detcli.models import build_detector

    (tmp_path / "guide_mobilenet.py").write_text(textwrap.dedent(BACKBONE_MODULE))
    (tmp_path / "guide_pafpn.py").write_text(textwrap.dedent(NECK_MODULE))
    (tmp_path / "guide_cfg.py").write_text(textwrap.dedent(CONFIG))
    monkeypatch.syspath_prepend(str(tmp_path))

    cfg = Config.fromfile(str(tmp_path / "guide_cfg.py"))
    model = build_detector(cfg.model)
    model.init_weights()
    assert type(model.backbone).__name__ == "GuideMobileNet" and type(model.neck).__name__ == "GuidePAFPN"

    meta = dict(img_shape=(64, 64, 3), ori_shape=(64, 64, 3), pad_shape=(64, 64, 3), flip=False,
                scale_factor=np.ones(4, dtype=np.float32))
    losses = model(img=torch.randn(1, 3, 64, 64), img_metas=[dict(meta)],
                   gt_bboxes=[torch.tensor([[8.0, 8, 40, 40]])], gt_labels=[torch.tensor([1])])
    assert len(losses["loss_cls"]) == 3 and losses["loss_bbox"][0].item() > 0
    model.eval()
    with torch.no_grad():
        result = model(return_loss=False, rescale=True, img=[torch.randn(1, 3, 64, 64)], img_metas=[[dict(meta)]])
    assert sum(len(r) for r in result[0]) == 7
