"""Optimizers by name, paramwise_cfg param groups, and the guide's custom optimizer/constructor pattern."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detcli.engine import build_optimizer
from detcli.errors import ConfigError, RegistryError
from detcli.registry import OPTIMIZER_BUILDERS, OPTIMIZERS

LR, WD = 0.01, 1e-4


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4))
        self.dw = nn.Conv2d(4, 4, 3, groups=4, bias=False)
        self.neck = nn.GroupNorm(2, 4)
        self.head = nn.Linear(4, 2)
        self.head_cls = nn.Linear(4, 2, bias=False)


def groups_by_param(model, optimizer):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(g["params"][0])]: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups}


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_any_torch_optimizer_by_name(name):
    model = Net()
    opt = build_optimizer(model, dict(type=name, lr=LR, weight_decay=WD))
    assert type(opt) is getattr(torch.optim, name)
    assert opt.param_groups[0]["lr"] == LR and len(opt.param_groups) == 1


def test_paramwise_multipliers_hit_the_right_groups():
    model = Net()
    opt = build_optimizer(model, dict(type="SGD", lr=LR, momentum=0.9, weight_decay=WD, paramwise_cfg=dict(
        bias_lr_mult=2.0, bias_decay_mult=0.0, norm_decay_mult=0.5, dwconv_decay_mult=0.1)))
    got = groups_by_param(model, opt)
    assert len(opt.param_groups) == len(list(model.parameters()))
    assert got == {
        "backbone.0.weight": (LR, WD),
        "backbone.0.bias": (2 * LR, 0.0),
        "backbone.1.weight": (LR, 0.5 * WD),  # BN: norm_decay_mult, no bias_lr_mult
        "backbone.1.bias": (LR, 0.5 * WD),
        "dw.weight": (LR, 0.1 * WD),
        "neck.weight": (LR, 0.5 * WD),
        "neck.bias": (LR, 0.5 * WD),
        "head.weight": (LR, WD),
        "head.bias": (2 * LR, 0.0),
        "head_cls.weight": (LR, WD),
    }


def test_custom_keys_longest_match_wins_over_other_rules():
    model = Net()
    opt = build_optimizer(model, dict(type="SGD", lr=LR, weight_decay=WD, paramwise_cfg=dict(
        bias_lr_mult=2.0, custom_keys={"head": dict(lr_mult=0.1), "head_cls": dict(lr_mult=0.0, decay_mult=3.0),
                                       "backbone": dict(decay_mult=0.0)})))
    got = groups_by_param(model, opt)
    assert got["head.weight"] == pytest.approx((0.1 * LR, WD))
    assert got["head.bias"] == pytest.approx((0.1 * LR, WD))  # custom key beats bias_lr_mult
    assert got["head_cls.weight"] == pytest.approx((0.0, 3 * WD))
    assert got["backbone.0.bias"] == pytest.approx((LR, 0.0))
    assert got["dw.weight"] == pytest.approx((LR, WD))


def test_frozen_params_stay_in_their_own_untouched_group():
    model = Net()
    model.backbone[0].weight.requires_grad_(False)
    opt = build_optimizer(model, dict(type="SGD", lr=LR, weight_decay=WD, paramwise_cfg=dict(bias_lr_mult=2.0)))
    frozen = [g for g in opt.param_groups if g["params"][0] is model.backbone[0].weight]
    assert frozen[0]["lr"] == LR and frozen[0]["weight_decay"] == WD


def test_shared_parameter_needs_bypass_duplicate():
    model = Net()
    model.tied = nn.Linear(4, 2)
    model.tied.weight = model.head.weight  # one parameter in two modules (tied weights)
    cfg = dict(type="SGD", lr=LR, weight_decay=WD, paramwise_cfg=dict(bias_lr_mult=2.0))
    with pytest.raises(ValueError, match="more than one parameter group"):
        build_optimizer(model, cfg)
    cfg["paramwise_cfg"]["bypass_duplicate"] = True
    with pytest.warns(UserWarning, match="duplicate"):
        opt = build_optimizer(model, cfg)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_decay_mults_need_weight_decay():
    with pytest.raises(ConfigError, match="weight_decay"):
        build_optimizer(Net(), dict(type="SGD", lr=LR, paramwise_cfg=dict(norm_decay_mult=0.0)))


def test_guide_custom_optimizer_and_constructor():
    @OPTIMIZERS.register_module(force=True)
    class MyOptimizer(torch.optim.SGD):
        def __init__(self, params, a, b, c):
            super().__init__(params, lr=a)
            self.abc = (a, b, c)

    @OPTIMIZER_BUILDERS.register_module(force=True)
    class MyOptimizerConstructor:
        def __init__(self, optimizer_cfg, paramwise_cfg=None):
            self.optimizer_cfg = optimizer_cfg

        def __call__(self, model):
            cfg = dict(self.optimizer_cfg, params=[p for n, p in model.named_parameters() if "head" in n])
            return OPTIMIZERS.build(cfg)

    model = Net()
    opt = build_optimizer(model, dict(type="MyOptimizer", a=0.5, b=2, c=3, constructor="MyOptimizerConstructor"))
    assert isinstance(opt, MyOptimizer) and opt.abc == (0.5, 2, 3)
    assert sum(len(g["params"]) for g in opt.param_groups) == 3  # head.weight, head.bias, head_cls.weight


def test_unknown_optimizer_suggests_names():
    with pytest.raises(RegistryError, match="AdamW"):
        build_optimizer(Net(), dict(type="AdamW_", lr=LR))


# -- optimizers without 'lr' (mmcv builds them; the guide's MyOptimizer(a, b, c) has none) --------
class NoLrOptimizer(torch.optim.Optimizer):
    """An optimizer whose arguments are its own (a, b, c); its learning rate lives under 'lr' anyway."""

    def __init__(self, params, a, b, c, weight_decay=0.0):
        super().__init__(params, dict(lr=a, b=b, c=c, weight_decay=weight_decay))

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data.add_(p.grad, alpha=-group["lr"])


def test_an_optimizer_config_without_lr_builds(caplog):
    OPTIMIZERS.register_module(name="NoLrOptimizer", module=NoLrOptimizer, force=True)
    model = Net()
    with caplog.at_level("WARNING", logger="detcli"):
        opt = build_optimizer(model, dict(type="NoLrOptimizer", a=0.5, b=2, c=3))
    assert isinstance(opt, NoLrOptimizer) and len(opt.param_groups) == 1
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["b"], opt.param_groups[0]["c"]) == (0.5, 2, 3)
    assert not caplog.records  # a custom optimizer decides for itself
    # decay multipliers need no lr: the groups keep the optimizer's own default
    opt = build_optimizer(model, dict(type="NoLrOptimizer", a=0.5, b=2, c=3, weight_decay=WD,
                                      paramwise_cfg=dict(norm_decay_mult=0.0)))
    assert {g["lr"] for g in opt.param_groups} == {0.5}


def test_lr_multipliers_without_lr_are_one_clear_error():
    OPTIMIZERS.register_module(name="NoLrOptimizer", module=NoLrOptimizer, force=True)
    with pytest.raises(ConfigError, match="bias_lr_mult .*no 'lr'"):
        build_optimizer(Net(), dict(type="NoLrOptimizer", a=0.5, b=2, c=3, paramwise_cfg=dict(bias_lr_mult=2.0)))
    with pytest.raises(ConfigError, match=r"custom_keys\.head\.lr_mult"):
        build_optimizer(Net(), dict(type="NoLrOptimizer", a=0.5, b=2, c=3,
                                    paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=0.1)})))


def test_a_torch_optimizer_without_lr_warns_with_torchs_default(caplog):
    with caplog.at_level("WARNING", logger="detcli"):
        opt = build_optimizer(Net(), dict(type="SGD", momentum=0.9))
    assert opt.param_groups[0]["lr"] == 0.001
    assert "SGD" in caplog.text and "lr=0.001" in caplog.text
