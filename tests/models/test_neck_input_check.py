"""The neck/backbone channel check made when a detector is built."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models import build_backbone, build_neck
from detcli.models.necks.input_check import check_neck_inputs


@pytest.mark.parametrize("cfg", [
    dict(type="ResNet", depth=18, base_channels=8, out_indices=(1, 2, 3)),
    dict(type="ResNet", depth=50, base_channels=4, out_indices=(0, 3)),
    dict(type="ResNeXt", depth=50, groups=2, base_width=4, base_channels=8, out_indices=(0, 1, 2, 3)),
])
def test_output_channels_are_what_forward_returns(cfg):
    backbone = build_backbone(dict(cfg, init_cfg=None)).eval()
    with torch.no_grad():
        feats = backbone(torch.zeros(1, 3, 64, 64))
    assert backbone.output_channels() == [f.shape[1] for f in feats]


def test_mismatch_names_both_modules_and_the_channels():
    backbone = build_backbone(dict(type="ResNet", depth=18, base_channels=8, out_indices=(1, 2, 3), init_cfg=None))
    check_neck_inputs(backbone, build_neck(dict(type="FPN", in_channels=[16, 32, 64], out_channels=8, num_outs=3)))
    wrong = build_neck(dict(type="FPN", in_channels=[8, 16, 32], out_channels=8, num_outs=3))
    with pytest.raises(ConfigError, match=r"neck FPN in_channels \[8, 16, 32\] do not match the channels of "
                                          r"backbone ResNet's 3 outputs \[16, 32, 64\] \(out_indices \(1, 2, 3\)\)"):
        check_neck_inputs(backbone, wrong)


def test_backbones_that_do_not_tell_their_channels_are_not_checked():
    class Custom(nn.Module):
        def forward(self, x):
            return (x,)

    check_neck_inputs(Custom(), build_neck(dict(type="FPN", in_channels=[1, 2], out_channels=8, num_outs=2)))
