"""Hook registration order by priority, the stages a runner calls, and hooks built from config."""

from __future__ import annotations

import pytest
from engine_toys import ToyDataset, loader, make_runner

from detcli.engine import Hook, Priority, get_priority
from detcli.errors import ConfigError
from detcli.registry import HOOKS


class Named(Hook):
    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def before_train_iter(self, runner) -> None:
        self.log.append(self.name)


def test_priority_names_and_ints():
    assert [get_priority(p) for p in ("HIGHEST", "very_high", "HIGH", "ABOVE_NORMAL", "NORMAL", "BELOW_NORMAL",
                                      "LOW", "VERY_LOW", "LOWEST")] == [0, 10, 30, 40, 50, 60, 70, 90, 100]
    assert get_priority(Priority.LOW) == 70 and get_priority(42) == 42
    for bad in (101, -1, "URGENT", 1.5):
        with pytest.raises(ConfigError):
            get_priority(bad)


def test_hooks_run_by_priority_then_registration_order():
    runner = make_runner(None, "IterBasedRunner", max_iters=1)
    log: list[str] = []
    for name, prio in [("low", "LOW"), ("n1", "NORMAL"), ("top", 0), ("n2", 50), ("very_high", "VERY_HIGH"),
                       ("n3", "NORMAL"), ("p45", 45)]:
        runner.register_hook(Named(name, log), priority=prio)
    runner.run([loader(ToyDataset(n=2))], [("train", 1)])
    assert log == ["top", "very_high", "p45", "n1", "n2", "n3", "low"]


def test_default_hooks_priorities_and_custom_hooks_from_config():
    @HOOKS.register_module(force=True)
    class MyHook(Hook):
        def __init__(self, a, b):
            self.a, self.b = a, b

    runner = make_runner(None, max_epochs=1)
    runner.register_training_hooks(
        lr_config=dict(policy="step", step=[1]), optimizer_config=dict(grad_clip=None),
        checkpoint_config=dict(interval=1), log_config=dict(interval=1, hooks=[dict(type="TextLoggerHook")]),
        momentum_config=dict(policy="CosineAnnealing", min_momentum_ratio=0.5),
        custom_hooks_config=[dict(type="MyHook", a=1, b=2), dict(type="MyHook", a=3, b=4, priority="HIGHEST")])
    names = [(type(h).__name__, h.priority) for h in runner.hooks]
    assert names == [("MyHook", 0), ("StepLrUpdaterHook", 10), ("CosineAnnealingMomentumUpdaterHook", 30),
                     ("OptimizerHook", 40), ("CheckpointHook", 50), ("MyHook", 50), ("IterTimerHook", 70),
                     ("TextLoggerHook", 90)]
    assert runner.hooks[0].a == 3 and runner.hooks[5].b == 2
    assert "(VERY_HIGH   ) StepLrUpdaterHook" in runner.get_hook_info()


def test_priority_attribute_on_a_hook_is_refused():
    runner = make_runner(None, max_epochs=1)
    hook = Hook()
    hook.priority = 3
    with pytest.raises(ConfigError, match="reserved"):
        runner.register_hook(hook)


class StageLog(Hook):
    """The guide's custom hook: only the generic stage methods."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_run(self, runner):
        self.calls.append("before_run")

    def after_run(self, runner):
        self.calls.append("after_run")

    def before_epoch(self, runner):
        self.calls.append(f"before_epoch:{runner.mode}")

    def after_epoch(self, runner):
        self.calls.append(f"after_epoch:{runner.mode}")

    def before_iter(self, runner):
        self.calls.append(f"before_iter:{runner.mode}")

    def after_iter(self, runner):
        self.calls.append(f"after_iter:{runner.mode}")


def test_generic_stages_fire_for_train_and_val_in_a_workflow():
    runner = make_runner(None, max_epochs=1)
    hook = StageLog()
    runner.register_hook(hook)
    runner.run([loader(ToyDataset(n=2)), loader(ToyDataset(n=2))], [("train", 1), ("val", 1)])
    assert hook.calls == ["before_run", "before_epoch:train", "before_iter:train", "after_iter:train",
                          "after_epoch:train", "before_epoch:val", "before_iter:val", "after_iter:val",
                          "after_epoch:val", "after_run"]
    assert hook.get_triggered_stages() == list(Hook.stages)
