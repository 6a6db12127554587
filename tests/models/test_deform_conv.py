"""Deformable convolutions (DCN / DCNv2) on torchvision's op: mmcv's layout, values and gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from detcli.errors import ConfigError
from detcli.models.backbones import ResNet
from detcli.models.layers import ConvModule, DeformConv2dPack, ModulatedDeformConv2dPack, build_conv_layer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "layers" / "dcn_mmcv_cases.pt"


def direct_deform_conv(layer, x: torch.Tensor) -> torch.Tensor:
    """The layer's output computed from its definition, with ``grid_sample`` doing the bilinear sampling.

    Kernel point ``k = i * kw + j`` of deformable group ``g`` reads the input at
    ``(y * stride - pad + i * dilation + dy, x * stride - pad + j * dilation + dx)`` where
    ``(dy, dx)`` are channels ``2k, 2k + 1`` of the group's offsets; corners outside the
    image count as zero (``padding_mode='zeros'``, pixel centres at ``align_corners=False``).
    """
    raw = layer.conv_offset(x)
    b, c, h, w = x.shape
    kh, kw = layer.kernel_size
    points, groups = kh * kw, layer.deform_groups
    offsets = raw[:, : 2 * groups * points]
    mask = raw[:, 2 * groups * points:].sigmoid() if isinstance(layer, ModulatedDeformConv2dPack) else None
    ho, wo = raw.shape[-2:]
    base_y = (torch.arange(ho, dtype=x.dtype) * layer.stride[0] - layer.padding[0])[:, None]
    base_x = (torch.arange(wo, dtype=x.dtype) * layer.stride[1] - layer.padding[1])[None, :]
    columns = []
    per_group = c // groups
    for g in range(groups):
        feats = x[:, g * per_group:(g + 1) * per_group]
        group_cols = []
        for k in range(points):
            i, j = divmod(k, kw)
            sy = base_y + i * layer.dilation[0] + offsets[:, g * 2 * points + 2 * k]
            sx = base_x + j * layer.dilation[1] + offsets[:, g * 2 * points + 2 * k + 1]
            grid = torch.stack(((2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1), dim=-1)
            sampled = F.grid_sample(feats, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            if mask is not None:
                sampled = sampled * mask[:, g * points + k][:, None]
            group_cols.append(sampled)
        columns.append(torch.stack(group_cols, dim=2))  # (b, per_group, points, ho, wo)
    cols = torch.cat(columns, dim=1)
    conv_groups = layer.groups
    cols = cols.reshape(b, conv_groups, c // conv_groups, points, ho, wo)
    weight = layer.weight.reshape(conv_groups, -1, c // conv_groups, points)
    out = torch.einsum("bgckyx,gock->bgoyx", cols, weight).reshape(b, -1, ho, wo)
    if getattr(layer, "bias", None) is not None:
        out = out + layer.bias[None, :, None, None]
    return out


def _randomised(layer, scale: float = 0.3):
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p) * scale)
    return layer


CASES = [
    # (in, out, stride, padding, dilation, groups, deform_groups)
    (4, 6, 1, 1, 1, 1, 1),
    (8, 4, 2, 1, 1, 2, 2),
    (4, 4, 1, 2, 2, 1, 4),
]


@pytest.mark.parametrize("cls", [DeformConv2dPack, ModulatedDeformConv2dPack])
@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_the_direct_computation(cls, case):
    torch.manual_seed(0)
    cin, cout, s, p, d, g, dg = case
    layer = _randomised(cls(cin, cout, 3, stride=s, padding=p, dilation=d, groups=g, deform_groups=dg)).double()
    x = torch.randn(2, cin, 9, 11, dtype=torch.float64, requires_grad=True)
    ours = layer(x)
    grads = torch.autograd.grad(ours.square().sum(), [x, *layer.parameters()])
    direct = direct_deform_conv(layer, x)
    direct_grads = torch.autograd.grad(direct.square().sum(), [x, *layer.parameters()])
    torch.testing.assert_close(ours, direct, rtol=1e-10, atol=1e-10)
    for a, b in zip(grads, direct_grads):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)
    assert ours.abs().mean() > 0.1 and all(t.abs().sum() > 0 for t in grads)


@pytest.mark.parametrize("modulated", [False, True])
def test_gradcheck_in_double(modulated):
    """The op the layers run, with respect to input, offsets, weight, bias and (v2) masks."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 4, 3, dtype=torch.float64, generator=g)
    offset = torch.randn(1, 18, 4, 3, dtype=torch.float64, generator=g) * 0.7  # off the integer grid
    weight = torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=g)
    bias = torch.randn(2, dtype=torch.float64, generator=g)
    mask = torch.rand(1, 9, 4, 3, dtype=torch.float64, generator=g)
    inputs = [t.requires_grad_() for t in (x, offset, weight, bias, mask)]
    if modulated:
        def op(x, offset, weight, bias, mask):
            return deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask)
    else:
        inputs = inputs[:4]

        def op(x, offset, weight, bias):
            return deform_conv2d(x, offset, weight, bias, padding=(1, 1))
    assert torch.autograd.gradcheck(op, tuple(inputs), eps=1e-6, atol=1e-5)


@pytest.mark.skipif(not FIXTURE.is_file(), reason="no mmcv cases")
def test_outputs_equal_mmcv_layers():
    """Cases computed by mmcv 1.7.2's DeformConv2dPack / ModulatedDeformConv2dPack (see fixtures/layers/README.md)."""
    classes = {"DeformConv2dPack": DeformConv2dPack, "ModulatedDeformConv2dPack": ModulatedDeformConv2dPack}
    cases = torch.load(FIXTURE, weights_only=True)
    assert len(cases) == 6
    for case in cases:
        cin, cout, s, p, d, g, dg = case["args"]
        layer = classes[case["type"]](cin, cout, 3, stride=s, padding=p, dilation=d, groups=g, deform_groups=dg,
                                      bias=False)
        layer.load_state_dict(case["sd"])
        with torch.no_grad():
            torch.testing.assert_close(layer(case["x"]), case["y"], rtol=1e-4, atol=1e-5)


def test_state_dict_names_and_builders():
    dcn = build_conv_layer(dict(type="DCN", deform_groups=1), 8, 8, 3, padding=1, bias=False)
    assert isinstance(dcn, DeformConv2dPack)
    assert {k: tuple(v.shape) for k, v in dcn.state_dict().items()} == {
        "weight": (8, 8, 3, 3), "conv_offset.weight": (18, 8, 3, 3), "conv_offset.bias": (18,)}
    dcn2 = build_conv_layer(dict(type="DCNv2", deform_groups=4), 8, 16, 3, padding=1, bias=False)
    assert dcn2.conv_offset.out_channels == 4 * 3 * 9 and dcn2.bias is None
    # at start the offsets are zero (and DCNv2's masks 0.5): a plain convolution (times 0.5)
    x = torch.randn(1, 8, 6, 6)
    torch.testing.assert_close(dcn(x), F.conv2d(x, dcn.weight, padding=1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(dcn2(x), 0.5 * F.conv2d(x, dcn2.weight, padding=1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="no bias"):
        ConvModule(8, 8, 3, conv_cfg=dict(type="DCN"))  # bias='auto' without a norm means bias=True


def test_resnet_stages_with_dcn():
    net = ResNet(depth=50, base_channels=8, dcn=dict(type="DCNv2", deform_groups=1, fallback_on_stride=False),
                 stage_with_dcn=(False, True, True, True), init_cfg=None)
    assert not isinstance(net.layer1[0].conv2, ModulatedDeformConv2dPack)
    assert all(isinstance(block.conv2, ModulatedDeformConv2dPack)
               for layer in (net.layer2, net.layer3, net.layer4) for block in layer)
    assert net.layer2[0].conv2.stride == (2, 2)
    outs = net(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64, 128, 256]
    with pytest.raises(ConfigError, match="one entry per stage"):
        ResNet(depth=50, dcn=dict(type="DCN"), stage_with_dcn=(False, True))
    with pytest.raises(ConfigError, match="Bottleneck"):
        ResNet(depth=18, dcn=dict(type="DCN"), stage_with_dcn=(False, True, True, True))
    fallback = ResNet(depth=50, base_channels=8, dcn=dict(type="DCN", fallback_on_stride=True),
                      stage_with_dcn=(False, True, False, False), init_cfg=None)
    assert isinstance(fallback.layer2[0].conv2, torch.nn.Conv2d)
