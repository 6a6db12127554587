"""FPN against a hand-written top-down computation, and its extra-level options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from detcli.errors import ConfigError
from detcli.registry import NECKS

IN_CHANNELS = [4, 8, 16]


def inputs(batch=1):
    return [torch.randn(batch, c, 32 // 2**i, 40 // 2**i) for i, c in enumerate(IN_CHANNELS)]


def conv(module, x, **kw):
    return F.conv2d(x, module.conv.weight, module.conv.bias, **kw)


def test_fpn_equals_the_hand_computation():
    fpn = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=5, start_level=1,
                           add_extra_convs="on_input"))
    fpn.init_weights()
    with torch.no_grad():
        for m in fpn.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.bias.uniform_(-1, 1)
    xs = inputs()
    lat1 = conv(fpn.lateral_convs[0], xs[1])
    lat2 = conv(fpn.lateral_convs[1], xs[2])
    lat1 = lat1 + F.interpolate(lat2, size=lat1.shape[2:], mode="nearest")
    expected = [conv(fpn.fpn_convs[0], lat1, padding=1), conv(fpn.fpn_convs[1], lat2, padding=1)]
    expected.append(conv(fpn.fpn_convs[2], xs[2], stride=2, padding=1))  # 'on_input': from C5 itself
    expected.append(conv(fpn.fpn_convs[3], expected[-1], stride=2, padding=1))
    outs = fpn(xs)
    assert [tuple(o.shape) for o in outs] == [(1, 6, 16, 20), (1, 6, 8, 10), (1, 6, 4, 5), (1, 6, 2, 3),
                                              (1, 6, 1, 2)]
    for got, ref in zip(outs, expected):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    keys = fpn.state_dict()
    assert keys["lateral_convs.0.conv.weight"].shape == (6, 8, 1, 1)
    assert keys["fpn_convs.2.conv.weight"].shape == (6, 16, 3, 3)


def test_inference_adds_top_down_in_place_with_the_same_outputs():
    """Without autograd the top-down sums go into the lateral maps in place: same values, and
    neither the backbone's features nor the graph-building path are touched by it."""
    fpn = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=4))
    fpn.init_weights()
    xs = inputs(batch=2)
    before = [x.clone() for x in xs]
    graph_outs = fpn(xs)
    assert all(o.grad_fn is not None for o in graph_outs)
    with torch.no_grad():
        outs = fpn(xs)
    for got, ref in zip(outs, graph_outs):
        assert torch.equal(got, ref.detach())
    for x, ref in zip(xs, before):
        assert torch.equal(x, ref)


@pytest.mark.parametrize("mode", ["on_lateral", "on_output", True])
def test_extra_conv_sources(mode):
    fpn = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=4,
                           add_extra_convs=mode, relu_before_extra_convs=True))
    outs = fpn(inputs())
    assert len(outs) == 4 and outs[3].shape == (1, 6, 4, 5)
    in_ch = fpn.fpn_convs[3].conv.in_channels
    assert in_ch == (16 if mode is True else 6)


def test_max_pool_extra_levels_norm_and_upsample_options():
    fpn = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=5))
    outs = fpn(inputs())
    torch.testing.assert_close(outs[3], F.max_pool2d(outs[2], 1, stride=2))
    assert outs[4].shape == (1, 6, 2, 3)  # 1x1 pooling, stride 2, of 4x5
    gn = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=8, num_outs=3,
                          norm_cfg=dict(type="GN", num_groups=2), no_norm_on_lateral=True))
    assert "fpn_convs.0.gn.weight" in gn.state_dict() and "lateral_convs.0.gn.weight" not in gn.state_dict()
    scaled = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=3,
                              upsample_cfg=dict(scale_factor=2, mode="nearest")))
    assert scaled(inputs())[0].shape == (1, 6, 32, 40)
    sub = NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=2, end_level=1))
    assert len(sub(inputs())) == 2
    with pytest.raises(ConfigError):
        NECKS.build(dict(type="FPN", in_channels=IN_CHANNELS, out_channels=6, num_outs=3, add_extra_convs="x"))
