"""HRNet, ResNeSt, Res2Net backbones; PAFPN, HRFPN, NAS-FPN, BFP necks; RetinaSepBNHead; deformable RoI pooling."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from detcli.errors import ConfigError
from detcli.models.backbones import HRNet, Res2Net, ResNeSt
from detcli.models.layers import DeformRoIPool, DeformRoIPoolPack, ModulatedDeformRoIPoolPack
from detcli.models.layers.deform_roi_pool import deform_roi_pool
from detcli.models.layers.merge_cells import GlobalPoolingCell, SumCell
from detcli.models.layers.non_local import NonLocal2d
from detcli.models.necks import BFP, FPN, HRFPN, NASFPN, PAFPN
from detcli.registry import HEADS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"


def hrnet_extra(widths=(2, 4, 8, 16), blocks=2) -> dict:
    return dict(
        stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(blocks,), num_channels=(4,)),
        stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(blocks,) * 2, num_channels=widths[:2]),
        stage3=dict(num_modules=2, num_branches=3, block="BASIC", num_blocks=(blocks,) * 3, num_channels=widths[:3]),
        stage4=dict(num_modules=2, num_branches=4, block="BASIC", num_blocks=(blocks,) * 4, num_channels=widths))


def test_hrnet_branches_strides_and_state_dict_names():
    net = HRNet(hrnet_extra()).eval()
    outs = net(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 2, 16, 24), (1, 4, 8, 12), (1, 8, 4, 6), (1, 16, 2, 3)]
    keys = set(net.state_dict())
    assert {"conv1.weight", "bn1.weight", "conv2.weight", "bn2.running_var", "layer1.0.downsample.0.weight",
            "transition1.0.0.weight", "transition1.1.0.0.weight", "transition3.3.0.0.weight",
            "stage2.0.branches.1.1.conv2.weight", "stage4.1.fuse_layers.3.0.2.1.weight",
            "stage4.1.fuse_layers.0.3.0.weight"} <= keys
    assert not any(k.startswith("transition2.0") for k in keys)  # unchanged branches pass through
    single = HRNet(hrnet_extra(), multiscale_output=False).eval()
    assert len(single(torch.randn(1, 3, 64, 96))) == 1
    net.train()
    assert not net.bn1.training  # norm_eval
    with pytest.raises(ConfigError, match="stage3"):
        HRNet({k: v for k, v in hrnet_extra().items() if k != "stage3"})
    bad = hrnet_extra()
    bad["stage2"] = dict(bad["stage2"], num_channels=(2, 4, 8))
    with pytest.raises(ConfigError, match="num_branches"):
        HRNet(bad)


def test_hrnet_fusion_adds_every_branch_at_each_resolution():
    """With unit BN and identity-like convs switched off, a module's outputs are the ReLU of the sums."""
    net = HRNet(hrnet_extra()).eval()
    module = net.stage2[0]
    x = [torch.randn(1, 2, 8, 8), torch.randn(1, 4, 4, 4)]
    with torch.no_grad():
        branched = [module.branches[0](x[0]), module.branches[1](x[1])]
        up = module.fuse_layers[0][1](branched[1])
        down = module.fuse_layers[1][0](branched[0])
        out = module([t.clone() for t in x])
    torch.testing.assert_close(out[0], torch.relu(branched[0] + up))
    torch.testing.assert_close(out[1], torch.relu(down + branched[1]))
    assert up.shape == (1, 2, 8, 8) and down.shape == (1, 4, 4, 4)


def test_resnest_split_attention_blocks():
    net = ResNeSt(depth=50, base_channels=8, stem_channels=8, radix=2, reduction_factor=4, init_cfg=None).eval()
    outs = net(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (256, 2, 2)]
    assert net.output_channels() == [o.shape[1] for o in outs]  # what the neck in_channels check reads
    keys = set(net.state_dict())
    assert {"stem.0.weight", "layer2.0.conv2.conv.weight", "layer2.0.conv2.bn0.weight", "layer2.0.conv2.fc1.weight",
            "layer2.0.conv2.bn1.weight", "layer2.0.conv2.fc2.bias", "layer2.0.downsample.1.weight"} <= keys
    assert not any(".bn2." in k for k in keys)
    block = net.layer2[0]
    assert block.avg_down_stride and block.conv2.conv.stride == (1, 1)  # the stride moved to avd_layer
    attention = block.conv2.rsoftmax(torch.randn(3, block.conv2.channels * 2, 1, 1)).view(3, 2, -1)
    torch.testing.assert_close(attention.sum(1), torch.ones(3, block.conv2.channels))  # splits' weights sum to 1


def test_res2net_scales_and_stage_blocks():
    net = Res2Net(depth=50, base_channels=8, scales=4, base_width=26, init_cfg=None).eval()
    outs = net(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (256, 2, 2)]
    assert net.output_channels() == [o.shape[1] for o in outs]  # what the neck in_channels check reads
    first, later = net.layer2[0], net.layer2[1]
    assert first.stage_type == "stage" and later.stage_type == "normal" and hasattr(first, "pool")
    # width = floor(planes * base_width / base_channels) = 16 * 26 / 8, times 4 scales
    assert first.width == 52 and len(first.convs) == 3 and first.conv1.out_channels == 208
    assert isinstance(first.downsample[0], nn.AvgPool2d)  # ResNet-D shortcut
    assert isinstance(net.layer1[0].downsample[0], nn.AvgPool2d)  # also at stride 1, as 2.x builds it
    assert not any(k.endswith("conv2.weight") for k in net.state_dict())


def test_pafpn_with_a_neutral_bottom_up_path_is_the_fpn():
    torch.manual_seed(0)
    pafpn = PAFPN([8, 16, 32], 8, num_outs=4).eval()
    fpn = FPN([8, 16, 32], 8, num_outs=4).eval()
    fpn.load_state_dict({k: v for k, v in pafpn.state_dict().items() if k in fpn.state_dict()})
    with torch.no_grad():
        for conv in pafpn.downsample_convs:
            conv.conv.weight.zero_()
            conv.conv.bias.zero_()
        for conv in pafpn.pafpn_convs:
            conv.conv.weight.zero_()
            conv.conv.weight[:, :, 1, 1] = torch.eye(8)
            conv.conv.bias.zero_()
    feats = [torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8), torch.randn(1, 32, 4, 4)]
    with torch.no_grad():
        for a, b in zip(pafpn(feats), fpn(feats)):
            torch.testing.assert_close(a, b)
        pafpn.downsample_convs[0].conv.bias.fill_(1.0)  # now the bottom-up path adds to level 1 and above
        changed = pafpn(feats)
    torch.testing.assert_close(changed[0], fpn(feats)[0])
    assert (changed[1] - fpn(feats)[1]).abs().min() > 0.5


def test_hrfpn_concatenates_then_pools():
    neck = HRFPN([2, 4, 8], 6, num_outs=4).eval()
    feats = [torch.randn(1, 2, 16, 16), torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)]
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 6, 16, 16), (1, 6, 8, 8), (1, 6, 4, 4), (1, 6, 2, 2)]
    assert neck.reduction_conv.conv.in_channels == 14 and neck.fpn_convs[0].norm is None
    maxed = HRFPN([2, 4, 8], 6, num_outs=4, pooling_type="MAX").eval()
    maxed.load_state_dict(neck.state_dict())
    assert not torch.allclose(maxed(feats)[1], outs[1])
    torch.testing.assert_close(maxed(feats)[0], outs[0])


def test_merge_cells_resize_and_combine():
    cell = SumCell(4, 4, with_out_conv=False)
    x1, x2 = torch.randn(1, 4, 3, 5), torch.randn(1, 4, 6, 10)
    out = cell(x1, x2, out_size=(6, 10))
    torch.testing.assert_close(out, torch.nn.functional.interpolate(x1, size=(6, 10)) + x2)
    pooled = cell._resize(torch.arange(25.0).view(1, 1, 5, 5), (2, 2))  # padded to 6x6 (zeros), max-pooled 3x3
    assert pooled.flatten().tolist() == [12.0, 14.0, 22.0, 24.0]
    gp = GlobalPoolingCell(with_out_conv=False)
    a, b = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
    torch.testing.assert_close(gp(a, b), b + b.mean(dim=(2, 3), keepdim=True).sigmoid() * a)


def test_nasfpn_levels_and_errors():
    neck = NASFPN([8, 16, 32], 8, num_outs=5, stack_times=2).eval()
    outs = neck([torch.randn(1, 8, 32, 32), torch.randn(1, 16, 16, 16), torch.randn(1, 32, 8, 8)])
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 2]
    assert {"fpn_stages.1.gp_64_4.out_conv.conv.weight", "fpn_stages.0.sum_77_7.out_conv.conv.bias",
            "extra_downsamples.1.0.conv.weight"} <= set(neck.state_dict())
    assert not any("gp_43_5.out_conv" in k for k in neck.state_dict())
    with pytest.raises(ConfigError, match="num_outs must be 5"):
        NASFPN([8, 16, 32], 8, num_outs=4, stack_times=1)


def test_bfp_adds_the_balanced_mean_to_every_level():
    neck = BFP(in_channels=2, num_levels=3, refine_level=1).eval()
    feats = [torch.full((1, 2, 8, 8), 1.0), torch.full((1, 2, 4, 4), 2.0), torch.full((1, 2, 2, 2), 6.0)]
    outs = neck(feats)
    for value, out in zip((1.0, 2.0, 6.0), outs):
        torch.testing.assert_close(out, torch.full_like(out, value + 3.0))  # mean of 1, 2, 6 is 3
    refined = BFP(in_channels=2, num_levels=3, refine_type="non_local").eval()
    assert isinstance(refined.refine, NonLocal2d)
    torch.testing.assert_close(refined(feats)[0], outs[0])  # the non-local block starts as the identity


def test_non_local_block_attends_over_all_positions():
    block = NonLocal2d(4, reduction=1, use_scale=False).eval()
    with torch.no_grad():
        block.conv_out.conv.weight.normal_()
    x = torch.randn(2, 4, 3, 5)
    y = block(x)
    # the output at one position depends on the input far away
    x2 = x.clone()
    x2[:, :, 2, 4] += 1.0
    assert (block(x2)[:, :, 0, 0] - y[:, :, 0, 0]).abs().max() > 1e-4


def test_retina_sepbn_head_shares_convs_not_norms():
    head = HEADS.build(dict(type="RetinaSepBNHead", num_classes=3, num_ins=3, in_channels=8, feat_channels=8,
                            stacked_convs=2, norm_cfg=dict(type="BN", requires_grad=True),
                            anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                                                  ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32])))
    head.init_weights()
    assert head.cls_convs[2][1].conv is head.cls_convs[0][1].conv
    assert head.cls_convs[2][1].bn is not head.cls_convs[0][1].bn
    keys = set(head.state_dict())
    assert {"cls_convs.2.1.conv.weight", "cls_convs.2.1.bn.weight", "reg_convs.1.0.conv.weight"} <= keys
    cls, reg = head([torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2)])
    assert [c.shape[1] for c in cls] == [27] * 3 and [r.shape[-1] for r in reg] == [8, 4, 2]


def _rois() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    boxes = torch.rand(20, 4, generator=g) * torch.tensor([150.0, 110, 150, 110])
    boxes[:, 2:] = boxes[:, :2] + torch.rand(20, 2, generator=g) * 60 + 1
    rois = torch.cat([torch.randint(0, 2, (20, 1), generator=g).float(), boxes], 1)
    rois[0, 1:] = torch.tensor([-20.0, -30.0, 10.0, 5.0])  # partly outside the image
    return rois


@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_deform_roi_pool_without_offsets_is_aligned_roi_align(sampling_ratio):
    x = torch.randn(2, 3, 30, 40, generator=torch.Generator().manual_seed(1))
    rois = _rois()
    expected = torchvision.ops.roi_align(x, rois, 7, 0.25, sampling_ratio, aligned=True)
    torch.testing.assert_close(DeformRoIPool(7, 0.25, sampling_ratio)(x, rois), expected, rtol=1e-4, atol=1e-5)
    zero = torch.zeros(len(rois), 2, 7, 7)  # the shifting path, shifted by nothing, samples the same points
    torch.testing.assert_close(DeformRoIPool(7, 0.25, sampling_ratio)(x, rois, zero), expected, rtol=1e-4, atol=1e-5)
    trainable = zero.clone().requires_grad_()
    torch.testing.assert_close(DeformRoIPool(7, 0.25, sampling_ratio)(x, rois, trainable).detach(), expected,
                               rtol=1e-4, atol=1e-5)


def test_deform_roi_pool_offsets_shift_bins_and_get_gradients():
    x = torch.randn(2, 3, 30, 40, generator=torch.Generator().manual_seed(1))
    rois = _rois()
    offset = torch.randn(20, 2, 7, 7, generator=torch.Generator().manual_seed(2)) * 0.5
    fast = deform_roi_pool(x, rois, offset, 7, 0.25, 0, 0.1)  # no gradients asked: one RoIAlign per bin
    trainable = offset.clone().requires_grad_()
    sampled = deform_roi_pool(x, rois, trainable, 7, 0.25, 0, 0.1)  # grid_sample path
    torch.testing.assert_close(fast, sampled.detach(), rtol=1e-4, atol=1e-4)
    sampled.square().sum().backward()
    assert trainable.grad.abs().sum() > 0
    # a uniform offset moves every bin alike: RoIAlign of the shifted RoI
    shift = torch.zeros(20, 2, 7, 7)
    shift[:, 0] = 1.0  # dx: gamma * roi width
    width = rois[:, 3] - rois[:, 1]
    moved = rois.clone()
    moved[:, [1, 3]] += 0.1 * width[:, None]
    torch.testing.assert_close(deform_roi_pool(x, rois, shift, 7, 0.25, 2, 0.1),
                               torchvision.ops.roi_align(x, moved, 7, 0.25, 2, aligned=True), rtol=1e-4, atol=1e-5)


def test_deform_roi_pool_packs_start_as_roi_align():
    x = torch.randn(1, 4, 20, 20)
    rois = torch.tensor([[0.0, 8.0, 8.0, 60.0, 50.0]])
    plain = torchvision.ops.roi_align(x, rois, 7, 0.25, 0, aligned=True)
    pack = DeformRoIPoolPack(7, 4, deform_fc_channels=16, spatial_scale=0.25)
    mpack = ModulatedDeformRoIPoolPack(7, 4, deform_fc_channels=16, spatial_scale=0.25)
    assert [k for k in mpack.state_dict() if k.endswith("weight")] == [
        "offset_fc.0.weight", "offset_fc.2.weight", "offset_fc.4.weight", "mask_fc.0.weight", "mask_fc.2.weight"]
    with torch.no_grad():
        torch.testing.assert_close(pack(x, rois), plain, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(mpack(x, rois), 0.5 * plain, rtol=1e-4, atol=1e-5)  # zero mask logits
    with pytest.raises(ValueError, match="input channels"):
        pack(torch.randn(1, 3, 20, 20), rois)


def test_nasfpn_retinanet_matches_mmdetection():
    """``retinanet_r50_nasfpn_tiny``: a shrunk NAS-FPN RetinaNet made and run by mmdetection 2.28."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference_fixtures import match_boxes
    from test_faster_rcnn_fixture import _build, _infer

    fixture = FIXTURES / "retinanet_r50_nasfpn_tiny"
    cfg, model = _build(fixture)
    expected = json.loads((fixture / "outputs.json").read_text())["images"]["shapes.png"]["bboxes"]
    result = _infer(cfg, model, fixture / "inputs" / "shapes.png")
    total = matched = 0
    for cls, ref in enumerate(expected):
        ref = np.asarray(ref, dtype=np.float64).reshape(-1, 5)
        ours = np.asarray(result[cls], dtype=np.float64)
        assert len(ours) == len(ref)
        total += len(ref)
        matched += int((match_boxes(ref, ours) >= 0).sum())
    assert matched == total > 50
