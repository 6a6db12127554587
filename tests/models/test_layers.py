"""Layer builders, ConvModule, RoI layers and weight initialisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError, RegistryError
from detcli.models.layers import (
    BaseModule,
    ConvModule,
    RoIAlign,
    RoIPool,
    bias_init_with_prob,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    build_upsample_layer,
    initialize,
)
from detcli.registry import ROI_LAYERS


@pytest.mark.parametrize(
    ("cfg", "postfix", "name", "cls"),
    [
        (dict(type="BN"), 1, "bn1", nn.BatchNorm2d),
        (dict(type="GN", num_groups=2), "", "gn", nn.GroupNorm),
        (dict(type="SyncBN"), 3, "bn3", nn.SyncBatchNorm),
        (dict(type="IN"), "", "in", nn.InstanceNorm2d),
        (dict(type="LN"), "", "ln", nn.LayerNorm),
    ],
)
def test_build_norm_layer_names_follow_the_type(cfg, postfix, name, cls):
    got_name, layer = build_norm_layer(cfg, 8, postfix)
    assert got_name == name and isinstance(layer, cls)


def test_norm_requires_grad_false_freezes_affine():
    _, layer = build_norm_layer(dict(type="BN", requires_grad=False), 4)
    assert [p.requires_grad for p in layer.parameters()] == [False, False]


def test_group_norm_without_groups_and_unknown_type_fail_clearly():
    with pytest.raises(ConfigError, match="num_groups"):
        build_norm_layer(dict(type="GN"), 8)
    with pytest.raises(RegistryError, match="did you mean 'BN'"):
        build_norm_layer(dict(type="BM"), 8)


def test_conv_module_equals_conv_bn_relu_by_hand():
    m = ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN")).eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
        m.bn.weight.uniform_(0.5, 2)
        m.bn.bias.uniform_(-1, 1)
    assert m.conv.bias is None  # bias='auto' with a norm
    assert sorted(m.state_dict()) == ["bn.bias", "bn.num_batches_tracked", "bn.running_mean",
                                      "bn.running_var", "bn.weight", "conv.weight"]
    x = torch.randn(2, 3, 8, 8)
    y = F.conv2d(x, m.conv.weight, padding=1)
    y = (y - m.bn.running_mean[:, None, None]) / torch.sqrt(m.bn.running_var[:, None, None] + 1e-5)
    y = torch.relu(y * m.bn.weight[:, None, None] + m.bn.bias[:, None, None])
    torch.testing.assert_close(m(x), y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m(x, activate=False).clamp(min=0), y, rtol=1e-5, atol=1e-5)


def test_conv_module_order_and_padding_mode():
    m = ConvModule(3, 5, 3, padding=1, norm_cfg=dict(type="BN"), order=("norm", "conv", "act"))
    assert m.bn.num_features == 3  # norm before conv normalises the input channels
    reflect = ConvModule(2, 2, 3, padding=1, act_cfg=None, padding_mode="reflect")
    x = torch.randn(1, 2, 5, 5)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), reflect.conv.weight, reflect.conv.bias)
    torch.testing.assert_close(reflect(x), expected)
    leaky = ConvModule(2, 2, 1, act_cfg=dict(type="LeakyReLU", negative_slope=0.2))
    assert isinstance(leaky.activate, nn.LeakyReLU) and leaky.activate.negative_slope == 0.2
    assert leaky.activate.inplace is True
    spectral = ConvModule(2, 2, 1, with_spectral_norm=True)
    assert hasattr(spectral.conv, "weight_orig") and spectral(x).shape == (1, 2, 5, 5)


def test_other_builders():
    assert isinstance(build_conv_layer(None, 3, 4, 3), nn.Conv2d)
    assert isinstance(build_conv_layer(dict(type="Conv1d"), 3, 4, 3), nn.Conv1d)
    up = build_upsample_layer(dict(type="nearest", scale_factor=2))
    assert up.mode == "nearest" and up(torch.ones(1, 1, 2, 2)).shape == (1, 1, 4, 4)
    deconv = build_upsample_layer(dict(type="deconv"), 4, 4, kernel_size=2, stride=2)
    assert isinstance(deconv, nn.ConvTranspose2d)
    act = build_activation_layer(dict(type="ReLU", inplace=True))
    assert isinstance(act, nn.ReLU) and act.inplace


def test_roi_align_on_a_linear_ramp_matches_hand_values():
    # feature value = column index; a 4-px wide roi over 2 bins, adaptive 2x2 samples per bin.
    feat = torch.arange(10, dtype=torch.float32).repeat(1, 1, 10, 1)
    rois = torch.tensor([[0.0, 2.0, 2.0, 6.0, 6.0]])
    aligned = ROI_LAYERS.build(dict(type="RoIAlign", output_size=2, sampling_ratio=0))
    # samples at x = 2.5, 3.5 | 4.5, 5.5; aligned shifts by -0.5 px -> means 2.5 and 4.5
    torch.testing.assert_close(aligned(feat, rois)[0, 0], torch.tensor([[2.5, 4.5], [2.5, 4.5]]))
    legacy = RoIAlign(output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=False)
    torch.testing.assert_close(legacy(feat, rois)[0, 0], torch.tensor([[3.0, 5.0], [3.0, 5.0]]))
    with pytest.raises(ConfigError, match="pool_mode"):
        RoIAlign(7, pool_mode="max")


def test_roi_pool_takes_the_max_of_each_bin():
    feat = (torch.arange(8.0)[None, :] + 10 * torch.arange(8.0)[:, None])[None, None]
    out = RoIPool(2, spatial_scale=1.0)(feat, torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]]))
    torch.testing.assert_close(out[0, 0], torch.tensor([[11.0, 13.0], [31.0, 33.0]]))


class _Toy(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.feat = nn.Conv2d(3, 4, 3)
        self.cls = nn.Conv2d(4, 2, 1)
        self.fc = nn.Linear(2, 2)
        self.block = ConvModule(4, 4, 1, norm_cfg=dict(type="BN"))


def test_init_cfg_layer_selection_and_override():
    model = _Toy(init_cfg=dict(type="Constant", layer="Conv2d", val=1, bias=2,
                               override=dict(type="Constant", name="cls", val=3, bias=4)))
    initialize(model, model.init_cfg)
    assert torch.all(model.feat.weight == 1) and torch.all(model.feat.bias == 2)
    assert torch.all(model.cls.weight == 3) and torch.all(model.cls.bias == 4)
    assert not torch.all(model.fc.weight == 1)  # Linear is not a Conv2d


def test_init_weights_runs_children_after_parent_and_bias_prob():
    model = _Toy(init_cfg=[dict(type="Constant", layer=["Conv2d", "_BatchNorm"], val=5),
                           dict(type="Normal", layer="Linear", std=0.01, bias_prob=0.01)])
    model.init_weights()
    assert torch.all(model.feat.weight == 5)
    assert torch.all(model.block.bn.weight == 1)  # ConvModule.init_weights ran after the parent's rule
    assert not torch.all(model.block.conv.weight == 5)
    torch.testing.assert_close(model.fc.bias, torch.full((2,), bias_init_with_prob(0.01)))
    assert abs(torch.sigmoid(torch.tensor(bias_init_with_prob(0.01))).item() - 0.01) < 1e-6
    assert model.is_init


def test_pretrained_init_cfg_with_prefix(tmp_path):
    source = _Toy()
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    target = _Toy(init_cfg=dict(type="Pretrained", checkpoint=str(path), prefix="backbone."))
    target.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)
    with pytest.raises(ConfigError, match="prefix"):
        initialize(_Toy(), dict(type="Pretrained", checkpoint=str(path), prefix="neck."))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=2, ceil_mode=True),
                                    dict(kernel_size=3, stride=1, padding=1)])
def test_max_pool_gives_torch_s_tensor_in_the_input_s_layout(kwargs):
    from detcli.models.layers import MaxPool2d

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 13, 11, generator=g)
    x[0, 1, 3, 4] = float("nan")
    ours, torch_pool = MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs)
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        a = inp.clone().requires_grad_()
        b = inp.clone().requires_grad_()
        out, ref = ours(a), torch_pool(b)
        assert torch.equal(out.nan_to_num(-9), ref.nan_to_num(-9))
        assert out.stride() == ref.stride()
        out.sum().backward()
        ref.sum().backward()
        assert torch.equal(a.grad.nan_to_num(-9), b.grad.nan_to_num(-9))
