"""Every LR policy and warmup, checked per iteration against hand-computed values or torch's schedulers."""

from __future__ import annotations

import math

import pytest
import torch
from engine_toys import ToyDataset, loader, make_runner

from detcli.engine import Hook
from detcli.errors import ConfigError

BASE = 0.1


class Recorder(Hook):
    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.momenta: list[float] = []

    def before_train_iter(self, runner) -> None:
        self.lrs.append(runner.current_lr()[0])
        self.momenta.append(runner.current_momentum()[0])


def schedule(lr_config=None, *, epochs=None, iters=None, per_epoch=4, momentum_config=None, optimizer=None):
    runner_type = "EpochBasedRunner" if epochs is not None else "IterBasedRunner"
    limits = dict(max_epochs=epochs) if epochs is not None else dict(max_iters=iters)
    runner = make_runner(None, runner_type, optimizer_cfg=optimizer or dict(type="SGD", lr=BASE, momentum=0.95),
                         **limits)
    rec = Recorder()
    runner.register_training_hooks(lr_config=lr_config, optimizer_config={}, momentum_config=momentum_config)
    runner.register_hook(rec, priority="HIGH")
    runner.run([loader(ToyDataset(n=per_epoch * 2), batch_size=2)], [("train", 1)])
    return rec


def close(actual, expected):
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a == pytest.approx(e, rel=1e-9, abs=1e-12), f"step {i}: {a} != {e}"


def cos_anneal(start, end, factor, weight=1.0):
    return end + 0.5 * weight * (start - end) * (1 + math.cos(math.pi * factor))


def torch_reference(make_scheduler, steps, lr=BASE):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_scheduler(opt)
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


def test_step_by_epoch_list():
    rec = schedule(dict(policy="step", step=[1, 2]), epochs=3)
    close(rec.lrs, [0.1] * 4 + [0.01] * 4 + [0.001] * 4)


def test_step_by_iter_int_with_min_lr():
    rec = schedule(dict(policy="step", step=3, gamma=0.5, min_lr=0.03), iters=8)
    close(rec.lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03])


def test_linear_warmup_then_epoch_steps():
    rec = schedule(dict(policy="step", step=[2], warmup="linear", warmup_iters=3, warmup_ratio=0.001), epochs=3)
    warm = [0.1 * 0.001, 0.1 * (1 - (2 / 3) * 0.999), 0.1 * (1 - (1 / 3) * 0.999)]
    close(rec.lrs, warm + [0.1] * 5 + [0.01] * 4)


def test_exp_warmup_by_iter():
    rec = schedule(dict(policy="fixed", warmup="exp", warmup_iters=3, warmup_ratio=0.001), iters=5)
    close(rec.lrs, [1e-4, 1e-3, 1e-2, 0.1, 0.1])


def test_constant_warmup_by_epoch_counts_epochs():
    rec = schedule(dict(policy="fixed", warmup="constant", warmup_iters=1, warmup_ratio=0.25, warmup_by_epoch=True),
                   epochs=2)
    close(rec.lrs, [0.025] * 4 + [0.1] * 4)


def test_exp_policy_matches_torch():
    rec = schedule(dict(policy="exp", gamma=0.5, by_epoch=False), iters=6)
    close(rec.lrs, torch_reference(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.5), 6))


def test_poly_matches_torch_and_min_lr():
    rec = schedule(dict(policy="poly", power=2.0, min_lr=0.0, by_epoch=False), iters=10)
    close(rec.lrs, torch_reference(lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=10, power=2.0), 10))
    rec = schedule(dict(policy="poly", power=1.0, min_lr=0.02, by_epoch=False), iters=4)
    close(rec.lrs, [0.1, 0.08, 0.06, 0.04])


def test_inv_policy():
    rec = schedule(dict(policy="inv", gamma=0.1, power=0.5, by_epoch=False), iters=4)
    close(rec.lrs, [0.1 * (1 + 0.1 * i) ** -0.5 for i in range(4)])


def test_cosine_annealing_by_epoch_matches_torch():
    rec = schedule(dict(policy="CosineAnnealing", min_lr=0.001), epochs=4, per_epoch=2)
    per_epoch = torch_reference(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.001), 4)
    close(rec.lrs, [v for v in per_epoch for _ in range(2)])


def test_cosine_annealing_ratio_and_linear_annealing():
    rec = schedule(dict(policy="CosineAnnealing", min_lr_ratio=0.1, by_epoch=False), iters=4)
    close(rec.lrs, [cos_anneal(0.1, 0.01, i / 4) for i in range(4)])
    rec = schedule(dict(policy="LinearAnnealing", min_lr=0.0, by_epoch=False), iters=4)
    close(rec.lrs, [0.1, 0.075, 0.05, 0.025])


def test_flat_cosine():
    rec = schedule(dict(policy="FlatCosineAnnealing", start_percent=0.5, min_lr=0.0, by_epoch=False), iters=8)
    close(rec.lrs, [0.1] * 5 + [0.05 * (1 + math.cos(math.pi / 4)), 0.05, 0.05 * (1 + math.cos(3 * math.pi / 4))])


def test_cosine_restart():
    rec = schedule(dict(policy="CosineRestart", periods=[4, 4], restart_weights=[1, 0.5], min_lr=0.0,
                        by_epoch=False), iters=8)
    first = [0.05 * (1 + math.cos(math.pi * i / 4)) for i in range(4)]
    second = [0.025 * (1 + math.cos(math.pi * i / 4)) for i in range(4)]
    close(rec.lrs, first + second)


def test_cyclic_lr_and_momentum():
    rec = schedule(dict(policy="cyclic", target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4), iters=10,
                   momentum_config=dict(policy="cyclic", target_ratio=(0.85 / 0.95, 1), cyclic_times=1,
                                        step_ratio_up=0.4))
    up = [cos_anneal(0.1, 1.0, i / 4) for i in range(4)]
    down = [cos_anneal(1.0, 1e-5, i / 6) for i in range(6)]
    close(rec.lrs, up + down)
    m_down = [cos_anneal(0.95, 0.85, i / 4) for i in range(4)]
    m_up = [cos_anneal(0.85, 0.95, i / 6) for i in range(6)]
    close(rec.momenta, m_down + m_up)


def test_one_cycle_matches_torch():
    rec = schedule(dict(policy="OneCycle", max_lr=0.1, pct_start=0.3, div_factor=25, final_div_factor=1e4), iters=10)
    ref = torch_reference(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.1, total_steps=10, pct_start=0.3, div_factor=25, final_div_factor=1e4, cycle_momentum=False), 10)
    close(rec.lrs, ref)


def test_three_phase_one_cycle_matches_torch():
    rec = schedule(dict(policy="OneCycle", max_lr=0.1, pct_start=0.3, three_phase=True), iters=12)
    ref = torch_reference(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.1, total_steps=12, pct_start=0.3, three_phase=True, cycle_momentum=False), 12)
    close(rec.lrs, ref)


def test_cosine_momentum_with_adam_beta1():
    rec = schedule(None, epochs=2, per_epoch=2, optimizer=dict(type="Adam", lr=BASE, betas=(0.9, 0.999)),
                   momentum_config=dict(policy="CosineAnnealing", min_momentum_ratio=0.5))
    close(rec.momenta, [0.9, 0.9, cos_anneal(0.9, 0.45, 0.5), cos_anneal(0.9, 0.45, 0.5)])


def test_each_param_group_keeps_its_own_base_lr():
    opt = dict(type="SGD", lr=BASE, momentum=0.9, paramwise_cfg=dict(custom_keys={"reg": dict(lr_mult=0.5)}))
    runner = make_runner(None, "IterBasedRunner", optimizer_cfg=opt, max_iters=2)
    seen = []

    class All(Hook):
        def before_train_iter(self, r):
            seen.append(sorted({round(g["lr"], 12) for g in r.optimizer.param_groups}))

    runner.register_training_hooks(lr_config=dict(policy="step", step=1, gamma=0.1), optimizer_config={})
    runner.register_hook(All(), priority="HIGH")
    runner.run([loader(ToyDataset(n=4))], [("train", 1)])
    assert seen == [[0.05, 0.1], [0.005, 0.01]]


@pytest.mark.parametrize("bad", [
    dict(policy="step", step=[1], warmup="cosine", warmup_iters=2),
    dict(policy="step", step=[1], warmup="linear", warmup_iters=0),
    dict(policy="step", step=[1], warmup="linear", warmup_iters=2, warmup_ratio=0),
    dict(policy="step", step="1"),
    dict(policy="CosineAnnealing"),
    dict(policy="cyclic", by_epoch=True),
])
def test_bad_lr_configs_are_config_errors(bad):
    runner = make_runner(None, max_epochs=1)
    with pytest.raises(ConfigError):
        runner.register_training_hooks(lr_config=bad)


def test_unknown_policy_names_the_hook():
    from detcli.errors import RegistryError

    runner = make_runner(None, max_epochs=1)
    with pytest.raises(RegistryError, match="Cosin"):
        runner.register_training_hooks(lr_config=dict(policy="Cosin"))


class _GroupsWithoutLr(torch.optim.Optimizer):
    def __init__(self, params, a):
        super().__init__(params, dict(a=a))

    def step(self, closure=None):
        pass


def test_lr_schedule_on_an_optimizer_without_lr_is_one_clear_error():
    from detcli.registry import OPTIMIZERS

    OPTIMIZERS.register_module(name="_GroupsWithoutLr", module=_GroupsWithoutLr, force=True)
    runner = make_runner(None, max_epochs=1, optimizer_cfg=dict(type="_GroupsWithoutLr", a=1.0))
    runner.register_training_hooks(lr_config=dict(policy="step", step=[1]))
    with pytest.raises(ConfigError, match="no 'lr' .*keys: a"):
        runner.run([loader(ToyDataset(n=2))], [("train", 1)])
    with pytest.raises(ConfigError, match="no 'lr'"):
        runner.current_lr()
