"""The training API around the runner: legacy config keys, LR scaling, SyncBN, mixed precision wiring,
fine-tuning real detectors to another number of classes."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from detcli.apis.train import _optimizer_hook, auto_scale_lr, load_weights
from detcli.config import Config
from detcli.engine.config_compat import compat_cfg
from detcli.engine.ddp import prepare_norm_layers, revert_sync_batchnorm
from detcli.engine.hooks import Fp16OptimizerHook, GradientCumulativeFp16OptimizerHook
from detcli.errors import ConfigError

LOG = logging.getLogger("detcli")


def test_total_epochs_becomes_a_runner_and_loader_keys_move():
    cfg = Config(dict(total_epochs=8, data=dict(imgs_per_gpu=3, workers_per_gpu=1, val=dict(samples_per_gpu=2),
                                                test=dict(samples_per_gpu=4))))
    new = compat_cfg(cfg)
    assert dict(new.runner) == dict(type="EpochBasedRunner", max_epochs=8)
    assert dict(new.data.train_dataloader) == dict(samples_per_gpu=3, workers_per_gpu=1)
    assert dict(new.data.val_dataloader) == dict(samples_per_gpu=2, workers_per_gpu=1)
    assert dict(new.data.test_dataloader) == dict(samples_per_gpu=4, workers_per_gpu=1)
    assert "runner" not in cfg and cfg.data.imgs_per_gpu == 3  # the input is not modified


def test_total_epochs_disagreeing_with_runner_is_a_config_error():
    with pytest.raises(ConfigError, match="total_epochs=8 disagrees with runner.max_epochs=12"):
        compat_cfg(Config(dict(total_epochs=8, runner=dict(type="EpochBasedRunner", max_epochs=12), data=dict())))
    with pytest.raises(ConfigError, match="neither runner nor total_epochs"):
        compat_cfg(Config(dict(data=dict())))


@pytest.mark.parametrize(("enable", "per_gpu", "gpus", "lr"), [
    (True, 2, [0], 0.02 * 2 / 16),
    (True, 4, [0, 1, 2, 3], 0.02),
    (False, 2, [0], 0.02),
])
def test_auto_scale_lr_is_linear_in_the_total_batch(enable, per_gpu, gpus, lr):
    cfg = Config(dict(auto_scale_lr=dict(enable=enable, base_batch_size=16), gpu_ids=gpus,
                      optimizer=dict(type="SGD", lr=0.02), data=dict(train_dataloader=dict(samples_per_gpu=per_gpu))))
    auto_scale_lr(cfg, distributed=False, logger=LOG)
    assert cfg.optimizer.lr == pytest.approx(lr)


def test_fp16_config_picks_the_mixed_precision_hook():
    hook = _optimizer_hook(Config(dict(optimizer_config=dict(grad_clip=dict(max_norm=3)),
                                       fp16=dict(loss_scale="dynamic"))), distributed=False)
    assert isinstance(hook, Fp16OptimizerHook) and hook.grad_clip == dict(max_norm=3)
    hook = _optimizer_hook(Config(dict(optimizer_config=dict(type="GradientCumulativeOptimizerHook",
                                                             cumulative_iters=2),
                                       fp16=dict(loss_scale=512.0))), distributed=False)
    assert isinstance(hook, GradientCumulativeFp16OptimizerHook) and hook.cumulative_iters == 2
    with pytest.raises(ConfigError, match="fp16.loss_scale"):
        _optimizer_hook(Config(dict(optimizer_config={}, fp16=dict(loss_scale="huge"))), distributed=False)


class WithSyncBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.SyncBatchNorm(4)
        self.head = nn.Sequential(nn.Linear(4, 4), nn.SyncBatchNorm(4))


def test_sync_bn_becomes_plain_bn_off_multi_gpu_training(caplog):
    model = WithSyncBN()
    model.bn.running_mean.fill_(0.5)
    model.bn.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="detcli"):
        model = prepare_norm_layers(model, distributed=True, device=torch.device("cpu"), logger=LOG)
    assert "SyncBN on CPU is plain BatchNorm: converted 2 layers" in caplog.text
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    assert model.state_dict().keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert not model.bn.weight.requires_grad
    out = model.head(model.bn(model.conv(torch.randn(2, 3, 8, 8))).mean((2, 3)))  # 4D and 2D inputs run
    assert out.shape == (2, 4)


def test_detector_built_with_syncbn_trains_on_cpu():
    from detcli.models import build_detector

    cfg = Config.fromfile("configs/_base_/models/retinanet_r50_fpn.py")
    cfg.merge_from_dict({"model.backbone.depth": 18, "model.backbone.base_channels": 8, "model.backbone.init_cfg": None,
                         "model.backbone.norm_cfg": dict(type="SyncBN", requires_grad=True),
                         "model.neck.in_channels": [8, 16, 32, 64], "model.neck.out_channels": 16,
                         "model.bbox_head.in_channels": 16, "model.bbox_head.feat_channels": 16,
                         "model.bbox_head.stacked_convs": 1})
    model = build_detector(cfg.model)
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    model, n = revert_sync_batchnorm(model)
    assert n > 0 and not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    model.train()
    feats = model.extract_feat(torch.randn(2, 3, 64, 64))
    assert len(feats) == 5


def tiny(kind: str, num_classes: int):
    from detcli.models import build_detector

    base = {"faster": "configs/_base_/models/faster_rcnn_r50_fpn.py",
            "retina": "configs/_base_/models/retinanet_r50_fpn.py"}[kind]
    cfg = Config.fromfile(base)
    opts = {"model.backbone.depth": 18, "model.backbone.base_channels": 8, "model.backbone.init_cfg": None,
            "model.neck.in_channels": [8, 16, 32, 64], "model.neck.out_channels": 16}
    if kind == "faster":
        opts.update({"model.rpn_head.in_channels": 16, "model.rpn_head.feat_channels": 16,
                     "model.roi_head.bbox_roi_extractor.out_channels": 16,
                     "model.roi_head.bbox_head.in_channels": 16, "model.roi_head.bbox_head.fc_out_channels": 32,
                     "model.roi_head.bbox_head.num_classes": num_classes})
    else:
        opts.update({"model.bbox_head.in_channels": 16, "model.bbox_head.feat_channels": 16,
                     "model.bbox_head.num_classes": num_classes})
    cfg.merge_from_dict(opts)
    return build_detector(cfg.model)


@pytest.mark.parametrize(("kind", "class_layers"), [
    ("faster", {"roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.fc_cls.bias",
                "roi_head.bbox_head.fc_reg.weight", "roi_head.bbox_head.fc_reg.bias"}),
    ("retina", {"bbox_head.retina_cls.weight", "bbox_head.retina_cls.bias"}),
])
def test_fine_tuning_a_detector_loads_all_but_its_class_layers(tmp_path, caplog, kind, class_layers):
    torch.manual_seed(0)
    source = tiny(kind, num_classes=80)
    torch.save({"state_dict": source.state_dict(), "meta": {}}, tmp_path / "coco.pth")
    torch.manual_seed(1)
    target = tiny(kind, num_classes=3)
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    with caplog.at_level(logging.WARNING, logger="detcli"):
        load_weights(target, str(tmp_path / "coco.pth"), LOG)
    skipped = {k for k, v in target.state_dict().items() if v.shape != source.state_dict()[k].shape}
    assert skipped == class_layers
    for k, v in target.state_dict().items():
        expected = fresh[k] if k in class_layers else source.state_dict()[k]
        assert torch.equal(v, expected), k
    for k in class_layers:
        assert k in caplog.text
    assert "missing" not in caplog.text and "unexpected" not in caplog.text
