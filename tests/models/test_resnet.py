"""ResNet / ResNeXt: torchvision weights load and give the same features; options behave."""

from __future__ import annotations

import pytest
import torch
import torchvision

from detcli.errors import CheckpointError, ConfigError
from detcli.registry import BACKBONES


def _torchvision_features(tv_model, x):
    m = tv_model
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    outs = []
    for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
        x = layer(x)
        outs.append(x)
    return outs


def _perturb_bn(model):
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)


@pytest.mark.parametrize(
    ("tv_name", "cfg"),
    [
        ("resnet50", dict(type="ResNet", depth=50)),
        ("resnext50_32x4d", dict(type="ResNeXt", depth=50, groups=32, base_width=4)),
        ("resnet18", dict(type="ResNet", depth=18)),
    ],
)
def test_torchvision_checkpoint_loads_and_matches(tmp_path, tv_name, cfg):
    tv = getattr(torchvision.models, tv_name)(weights=None).eval()
    _perturb_bn(tv)
    path = tmp_path / f"{tv_name}.pth"
    torch.save(tv.state_dict(), path)
    model = BACKBONES.build(dict(cfg, init_cfg=dict(type="Pretrained", checkpoint=str(path)))).eval()
    own = set(model.state_dict())
    theirs = set(tv.state_dict())
    assert own - theirs == set()  # nothing missing
    assert theirs - own == {"fc.weight", "fc.bias"}
    model.init_weights()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model(x)
        ref = _torchvision_features(tv, x)
    assert len(ours) == 4
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_small_resnet_shapes_strides_and_dilations():
    model = BACKBONES.build(dict(type="ResNet", depth=18, base_channels=8, out_indices=(1, 3),
                                 strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)))
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 12), (2, 64, 4, 6)]
    assert model.layer4[0].conv1.dilation == (2, 2) and model.feat_dim == 64


def test_caffe_style_moves_the_stride_and_v1d_keys():
    caffe = BACKBONES.build(dict(type="ResNet", depth=50, base_channels=8, style="caffe"))
    assert caffe.layer2[0].conv1.stride == (2, 2) and caffe.layer2[0].conv2.stride == (1, 1)
    v1d = BACKBONES.build(dict(type="ResNetV1d", depth=50, base_channels=8))
    keys = v1d.state_dict()
    assert "stem.0.weight" in keys and "stem.7.weight" in keys and "conv1.weight" not in keys
    assert isinstance(v1d.layer2[0].downsample[0], torch.nn.AvgPool2d)
    assert keys["layer2.0.downsample.1.weight"].shape == (64, 32, 1, 1)  # 4 * 16 <- 4 * 8
    assert v1d.eval()(torch.randn(1, 3, 32, 32))[-1].shape == (1, 256, 1, 1)  # 4 * 64 channels at stride 32


def test_frozen_stages_and_norm_eval():
    model = BACKBONES.build(dict(type="ResNet", depth=18, base_channels=8, frozen_stages=1, norm_eval=True))
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training and not model.layer3[0].bn1.training  # norm_eval keeps every BN frozen
    trainable = BACKBONES.build(dict(type="ResNet", depth=18, base_channels=8, norm_eval=False)).train()
    assert trainable.layer3[0].bn1.training


def test_group_norm_and_frozen_bn_configs():
    gn = BACKBONES.build(dict(type="ResNet", depth=50, base_channels=16, norm_cfg=dict(type="GN", num_groups=4)))
    assert "layer1.0.gn1.weight" in gn.state_dict() and "gn1.weight" in gn.state_dict()
    frozen = BACKBONES.build(dict(type="ResNet", depth=18, base_channels=8,
                                  norm_cfg=dict(type="BN", requires_grad=False)))
    assert not frozen.layer2[0].bn1.weight.requires_grad


def test_zero_init_residual_and_checkpointing():
    model = BACKBONES.build(dict(type="ResNet", depth=50, base_channels=8, with_cp=True))
    model.init_weights()
    assert torch.all(model.layer1[0].bn3.weight == 0) and torch.all(model.bn1.weight == 1)
    _perturb_bn(model)
    plain = BACKBONES.build(dict(type="ResNet", depth=50, base_channels=8))
    plain.load_state_dict(model.state_dict())
    model.train()
    plain.train()
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    out_cp = sum(o.sum() for o in model(x))
    out_cp.backward()
    grad_cp = x.grad.clone()
    x.grad = None
    out = sum(o.sum() for o in plain(x))
    out.backward()
    torch.testing.assert_close(out_cp, out)
    torch.testing.assert_close(grad_cp, x.grad)


def test_unsupported_and_invalid_options_fail_clearly():
    with pytest.raises(ConfigError, match="deformable"):  # DCN replaces the 3x3 conv of bottlenecks only
        BACKBONES.build(dict(type="ResNet", depth=18, dcn=dict(type="DCN"), stage_with_dcn=(False, True, True, True)))
    with pytest.raises(ConfigError, match="invalid depth"):
        BACKBONES.build(dict(type="ResNet", depth=42))
    with pytest.raises(ConfigError, match="at the same time"):
        BACKBONES.build(dict(type="ResNet", depth=18, pretrained="x.pth",
                             init_cfg=dict(type="Pretrained", checkpoint="x.pth")))


def test_torchvision_pretrained_offline_gives_a_clear_error(tmp_path, monkeypatch):
    def no_network(url, dst, *args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    model = BACKBONES.build(dict(type="ResNet", depth=18, base_channels=8, pretrained="torchvision://resnet18"))
    assert model.init_cfg == dict(type="Pretrained", checkpoint="torchvision://resnet18")
    with pytest.raises(CheckpointError, match="offline"):
        model.init_weights()
