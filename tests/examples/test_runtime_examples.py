"""The guide's chapter 九 (runtime): a custom optimizer without 'lr', an optimizer constructor,
gradient clipping with a momentum schedule, other LR schedules, the train/val workflow and a custom
hook with a priority, each in one short training run."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from example_runs import json_log, text_log, train

from detcli.config import Config


def train_lines(work_dir):
    return [d for d in json_log(work_dir) if d.get("mode") == "train"]


def logged_lrs(work_dir):
    """The lr of each training iteration as the text log prints it (4 digits; the json log rounds
    to 5 decimals)."""
    return [float(v) for v in re.findall(r"Epoch \[\d+\]\[\d+/\d+\]\s+lr: (\S+),", text_log(work_dir))]


def test_my_optimizer_has_its_own_arguments_and_no_lr(example, tmp_path):
    folder = example("custom_optimizer")
    config = folder / "faster_rcnn_my_optimizer_shapes.py"
    assert "lr" not in Config.fromfile(config).optimizer  # the guide's dict(type='MyOptimizer', a=..., b=..., c=...)
    runner = train(config, tmp_path / "work")
    optimizer = runner.optimizer
    assert type(optimizer).__name__ == "MyOptimizer"
    group = optimizer.param_groups[0]
    assert (group["b"], group["c"], group["weight_decay"]) == (0.9, 0.99, 0.2)
    assert all("momentum" in optimizer.state[p] for p in runner.model.backbone.parameters())
    # the base's linear warmup schedules MyOptimizer's step size like any lr:
    # iteration i (from 0) of 200 warmup iterations runs at a * (1 - (1 - i / 200) * (1 - 0.001))
    lrs = logged_lrs(tmp_path / "work")
    assert lrs == pytest.approx([0.0002 * (1 - (1 - i / 200) * 0.999) for i in range(2)], rel=1e-3)


def test_my_optimizer_constructor_groups_the_parameters(example, tmp_path):
    folder = example("custom_optimizer")
    runner = train(folder / "faster_rcnn_my_constructor_shapes.py", tmp_path / "work")
    optimizer, model = runner.optimizer, runner.model
    assert type(optimizer).__name__ == "AdamW" and len(optimizer.param_groups) == 2
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    norms = (torch.nn.BatchNorm2d, torch.nn.GroupNorm)
    expected = {id(p) for m in model.modules() for n, p in m.named_parameters(recurse=False)
                if isinstance(m, norms) or n == "bias"}
    assert len(expected) > 50 and {id(p) for p in no_decay["params"]} == expected
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert f"{len(decay['params'])} parameter tensors with weight decay, {len(no_decay['params'])} without" in \
        text_log(tmp_path / "work")


def test_grad_clip_and_cyclic_momentum(example, tmp_path):
    folder = example("runtime_schedules")
    runner = train(folder / "faster_rcnn_grad_clip_cyclic_shapes.py", tmp_path / "work")
    hooks = {type(h).__name__: h for h in runner.hooks}
    assert hooks["OptimizerHook"].grad_clip == dict(max_norm=35, norm_type=2)
    assert {"CyclicLrUpdaterHook", "CyclicMomentumUpdaterHook"} <= set(hooks) and "StepLrUpdaterHook" not in hooks
    # one cycle over the run's 2 iterations: int(0.4 * 2) = 0 iterations up, so the lr starts at its
    # peak (10x) and is halfway down a cosine at the second; the momentum (AdamW's beta1) moves the
    # other way, from 0.85 back up towards 0.95
    assert logged_lrs(tmp_path / "work") == pytest.approx([1e-3, 1e-8 + (1e-3 - 1e-8) / 2], rel=1e-3)
    assert runner.optimizer.param_groups[0]["betas"][0] == pytest.approx(0.85 + (0.95 - 0.85) / 2)


def test_adam_with_poly_lr(example, tmp_path):
    folder = example("runtime_schedules")
    runner = train(folder / "faster_rcnn_adam_poly_shapes.py", tmp_path / "work")
    assert type(runner.optimizer) is torch.optim.Adam and runner.optimizer.defaults["weight_decay"] == 0.0001
    # (base - min) * (1 - iter / max_iters) ** 0.9 + min, per iteration, no warmup
    assert logged_lrs(tmp_path / "work") == pytest.approx([3e-4, 2e-4 * 0.5**0.9 + 1e-4], rel=1e-3)


def test_cosine_lr_and_the_train_val_workflow(example, tmp_path):
    folder = example("runtime_schedules")
    train(folder / "faster_rcnn_cosine_train_val_shapes.py", tmp_path / "work")
    lines = json_log(tmp_path / "work")
    train_ = [d for d in lines if d["mode"] == "train"]
    assert train_[0]["lr"] == pytest.approx(0.001 * 0.1)  # linear warmup from 1/10 of the cosine's start
    # the ('val', 1) phase: losses over the 2 validation images, after the epoch's bbox evaluation
    val = [d for d in lines if d["mode"] == "val"]
    assert any("bbox_mAP" in d for d in val)
    losses = [d for d in val if any(k.startswith("loss") for k in d)]
    assert len(losses) == 1 and all(math.isfinite(v) for k, v in losses[0].items() if k.startswith("loss"))


def test_my_hook_runs_first_and_records_the_run(example, tmp_path):
    folder = example("custom_hook")
    work = tmp_path / "work"
    runner = train(folder / "faster_rcnn_my_hook_shapes.py", work, **{"custom_hooks.1.interval": 1})
    assert type(runner.hooks[0]).__name__ == "MyHook"  # priority='HIGHEST'
    assert "NumClassCheckHook" in [type(h).__name__ for h in runner.hooks]
    record = json.loads((work / "my_hook.json").read_text())
    assert record["calls"] == dict(before_run=1, after_run=1, before_epoch=1, after_epoch=1, before_iter=2,
                                   after_iter=2)
    assert (record["epochs"], record["iters"]) == (1, 2)
    logged = [[d["iter"], d["loss"]] for d in train_lines(work)]
    assert [i for i, _ in record["losses"]] == [1, 2]
    assert [loss for _, loss in record["losses"]] == pytest.approx([loss for _, loss in logged], rel=1e-4)
    # checkpoint_config: save_optimizer=False; evaluation: bbox only
    assert "optimizer" not in torch.load(work / "epoch_1.pth", map_location="cpu", weights_only=True)
    val = [d for d in json_log(work) if d["mode"] == "val"]
    assert "bbox_mAP" in val[0] and not any(k.startswith("segm") for k in val[0])
