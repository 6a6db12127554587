"""Runners end to end on a toy model: logs, checkpoints, exact resume, signals, NaN losses, workflows."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from engine_toys import ToyDataset, ToyModel, loader, make_runner, state_of, toy_test_fn

from detcli.engine import EvalHook, Hook, NonFiniteLossError, TrainingInterrupted
from detcli.errors import ConfigError


def hooks(runner, *, by_epoch=True, ckpt_interval=1, log_interval=2, custom=None, optimizer_config=None):
    runner.register_training_hooks(
        lr_config=dict(policy="step", step=[2] if by_epoch else [6], warmup="linear", warmup_iters=3,
                       warmup_ratio=0.1),
        optimizer_config=optimizer_config if optimizer_config is not None else dict(grad_clip=None),
        checkpoint_config=dict(interval=ckpt_interval),
        log_config=dict(interval=log_interval, hooks=[dict(type="TextLoggerHook")]),
        custom_hooks_config=custom)


def random_setup(work_dir, runner_type="EpochBasedRunner", deterministic=True, **limits):
    """Dropout (torch RNG), augmentation noise (numpy RNG) and shuffling: every source of randomness."""
    torch.manual_seed(0)  # the same initial weights, as a seeded `det train` builds them
    runner = make_runner(work_dir, runner_type, model=ToyModel(dropout=0.3), deterministic=deterministic,
                         **limits)
    data = loader(ToyDataset(n=8, aug_noise=0.1), batch_size=2, shuffle=True)
    return runner, data


def equal_states(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def read_json_log(work_dir):
    [name] = [f for f in os.listdir(work_dir) if f.endswith(".log.json")]
    with open(os.path.join(work_dir, name)) as f:
        return [json.loads(line) for line in f]


def test_epoch_runner_writes_checkpoints_and_mmdet_json_log(tmp_path):
    runner, data = random_setup(str(tmp_path), max_epochs=2)
    runner.meta.update(env_info="env", config="cfg text", seed=0, exp_name="toy.py")
    hooks(runner)
    runner.run([data], [("train", 1)])
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".pth")) == ["epoch_1.pth", "epoch_2.pth", "latest.pth"]
    assert os.readlink(tmp_path / "latest.pth") == "epoch_2.pth"
    lines = read_json_log(tmp_path)
    assert lines[0] == dict(env_info="env", config="cfg text", seed=0, exp_name="toy.py")
    train = lines[1:]
    assert [(d["epoch"], d["iter"]) for d in train] == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert list(train[0])[:5] == ["mode", "epoch", "iter", "lr", "memory"]
    assert {"data_time", "time", "loss_reg", "loss_cls", "loss"} <= set(train[0])
    assert train[0]["mode"] == "train"
    assert train[0]["lr"] == pytest.approx(0.05 * (1 - (1 - 1 / 3) * 0.9), abs=1e-5)  # warmup step 1 of 3
    ckpt = torch.load(tmp_path / "epoch_2.pth", weights_only=True)
    assert ckpt["meta"]["epoch"] == 2 and ckpt["meta"]["iter"] == 8 and ckpt["meta"]["CLASSES"] == ("a", "b")
    assert ckpt["meta"]["config"] == "cfg text" and ckpt["meta"]["seed"] == 0 and "detcli_version" in ckpt["meta"]
    equal_states(ckpt["state_dict"], state_of(runner.model))
    assert ckpt["optimizer"]["state"], "momentum buffers are saved for resuming"


def test_losses_fall_on_the_toy_problem(tmp_path):
    runner = make_runner(str(tmp_path), max_epochs=10, optimizer_cfg=dict(type="SGD", lr=0.02, momentum=0.9))
    runner.register_training_hooks(lr_config=None, optimizer_config={},
                                   log_config=dict(interval=4, hooks=[dict(type="TextLoggerHook")]))
    runner.run([loader(ToyDataset(n=8))], [("train", 1)])
    losses = [d["loss"] for d in read_json_log(tmp_path) if d.get("mode") == "train"]
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.parametrize("resume_at", ["epoch_1.pth", "iter_6.pth"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, resume_at):
    full_dir, part_dir = str(tmp_path / "full"), str(tmp_path / "part")
    runner, data = random_setup(full_dir, max_epochs=3)
    hooks(runner)
    runner.run([data], [("train", 1)])
    expected = state_of(runner.model)

    if resume_at == "iter_6.pth":  # SIGTERM in the middle of epoch 2, then resume from what it saved

        class Kill(Hook):
            def after_train_iter(self, r):
                if r.iter == 5:
                    os.kill(os.getpid(), signal.SIGTERM)

        runner, data = random_setup(part_dir, max_epochs=3)
        hooks(runner, custom=[Kill()])
        with pytest.raises(TrainingInterrupted, match="SIGTERM at iteration 6"):
            runner.run([data], [("train", 1)])
        start = os.path.join(part_dir, "iter_6.pth")
        assert os.path.realpath(os.path.join(part_dir, "latest.pth")) == os.path.realpath(start)
        assert torch.load(start, weights_only=True)["meta"]["inner_iter"] == 2
    else:
        start = os.path.join(full_dir, "epoch_1.pth")

    resumed, data = random_setup(str(tmp_path / "resumed"), max_epochs=3)
    hooks(resumed)
    resumed.resume(start)
    resumed.run([data], [("train", 1)])
    equal_states(state_of(resumed.model), expected)


class CountingDataset(ToyDataset):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fetched = []

    def __getitem__(self, i):
        self.fetched.append(i)
        return super().__getitem__(i)


class SeenTargets(Hook):
    def __init__(self):
        self.batches = []

    def before_train_iter(self, r):
        self.batches.append(r.data_batch["y"].tolist())


def test_resume_skips_batches_without_loading_them_and_stays_exact(tmp_path):
    """Mid-epoch resume draws the skipped sample indices but loads none of their data."""
    full, seen_full = random_setup(str(tmp_path / "full"), deterministic=False, max_epochs=2)[0], SeenTargets()
    hooks(full, custom=[seen_full])
    full.run([loader(ToyDataset(n=8, aug_noise=0.1), batch_size=2, shuffle=True)], [("train", 1)])

    class StopAt5(Hook):
        def after_train_iter(self, r):
            if r.iter == 4:
                os.kill(os.getpid(), signal.SIGTERM)

    part = random_setup(str(tmp_path / "part"), deterministic=False, max_epochs=2)[0]
    hooks(part, custom=[StopAt5()])
    with pytest.raises(TrainingInterrupted):
        part.run([loader(ToyDataset(n=8, aug_noise=0.1), batch_size=2, shuffle=True)], [("train", 1)])

    resumed, seen = random_setup(str(tmp_path / "resumed"), deterministic=False, max_epochs=2)[0], SeenTargets()
    hooks(resumed, custom=[seen])
    resumed.resume(str(tmp_path / "part" / "iter_5.pth"))
    ds = CountingDataset(n=8, aug_noise=0.1)
    resumed.run([loader(ds, batch_size=2, shuffle=True)], [("train", 1)])
    assert seen.batches == seen_full.batches[5:]
    assert len(ds.fetched) == 6  # the skipped batch of epoch 2 was never loaded
    equal_states(state_of(resumed.model), state_of(full.model))


def test_deterministic_resume_with_loader_workers_is_exact(tmp_path):
    from torch.utils.data import DataLoader

    def data():
        return DataLoader(ToyDataset(n=12, aug_noise=0.1), batch_size=2, shuffle=True, num_workers=2)

    full = random_setup(str(tmp_path / "full"), max_epochs=2)[0]
    hooks(full)
    full.run([data()], [("train", 1)])

    class StopAt8(Hook):
        def after_train_iter(self, r):
            if r.iter == 7:
                os.kill(os.getpid(), signal.SIGTERM)

    part = random_setup(str(tmp_path / "part"), max_epochs=2)[0]
    hooks(part, custom=[StopAt8()])
    with pytest.raises(TrainingInterrupted):
        part.run([data()], [("train", 1)])
    resumed = random_setup(str(tmp_path / "resumed"), max_epochs=2)[0]
    hooks(resumed)
    resumed.resume(str(tmp_path / "part" / "iter_8.pth"))
    resumed.run([data()], [("train", 1)])
    equal_states(state_of(resumed.model), state_of(full.model))


def test_iter_runner_resume_mid_pass(tmp_path):
    runner, data = random_setup(str(tmp_path / "full"), "IterBasedRunner", max_iters=10)
    hooks(runner, by_epoch=False, ckpt_interval=3)
    runner.run([data], [("train", 1)])
    expected = state_of(runner.model)
    assert {"iter_3.pth", "iter_6.pth", "iter_9.pth", "iter_10.pth"} <= set(os.listdir(tmp_path / "full"))
    meta = torch.load(tmp_path / "full" / "iter_6.pth", weights_only=True)["meta"]
    assert (meta["iter"], meta["epoch"], meta["inner_iter"]) == (6, 1, 2)

    resumed, data = random_setup(str(tmp_path / "resumed"), "IterBasedRunner", max_iters=10)
    hooks(resumed, by_epoch=False, ckpt_interval=3)
    resumed.resume(str(tmp_path / "full" / "iter_6.pth"))
    resumed.run([data], [("train", 1)])
    equal_states(state_of(resumed.model), expected)


def test_nan_loss_stops_with_iteration_and_loss_name_and_saves_nothing_corrupt(tmp_path):
    runner = make_runner(str(tmp_path), "IterBasedRunner", model=ToyModel(nan_at=3), max_iters=6)
    hooks(runner, by_epoch=False, ckpt_interval=1)
    with pytest.raises(NonFiniteLossError, match=r"loss_reg became nan at iteration 3 .*iter_2\.pth"):
        runner.run([loader(ToyDataset(n=8))], [("train", 1)])
    files = set(os.listdir(tmp_path))
    assert "iter_3.pth" not in files and {"iter_1.pth", "iter_2.pth", "latest.pth"} <= files
    saved = torch.load(tmp_path / "latest.pth", weights_only=True)["state_dict"]
    equal_states(saved, state_of(runner.model))  # the NaN step changed no weight
    assert all(torch.isfinite(v).all() for v in saved.values() if v.is_floating_point())


def test_workflow_val_epochs_compute_losses_without_training(tmp_path):
    class Watch(Hook):
        def __init__(self):
            self.train_epochs, self.val_changed = 0, []

        def before_train_epoch(self, r):
            self.train_epochs += 1

        def before_val_epoch(self, r):
            self.before = state_of(r.model)

        def after_val_epoch(self, r):
            after = state_of(r.model)
            self.val_changed.append(any(not torch.equal(self.before[k], after[k]) for k in after))

    runner = make_runner(str(tmp_path), max_epochs=2)
    watch = Watch()
    hooks(runner, custom=[watch])
    runner.run([loader(ToyDataset(n=4)), loader(ToyDataset(n=4, seed=1))], [("train", 1), ("val", 1)])
    assert watch.train_epochs == 2 and watch.val_changed == [False, False]
    val = [d for d in read_json_log(tmp_path) if d.get("mode") == "val"]
    assert [d["epoch"] for d in val] == [1, 2] and all("loss_reg" in d for d in val)


def test_grad_clip_matches_a_manual_step_and_logs_the_norm(tmp_path):
    torch.manual_seed(1)
    model = ToyModel()
    manual = ToyModel()
    manual.load_state_dict(model.state_dict())
    runner = make_runner(str(tmp_path), "IterBasedRunner", model=model, max_iters=1, seed=None,
                         optimizer_cfg=dict(type="SGD", lr=0.1))
    runner.register_training_hooks(lr_config=None, optimizer_config=dict(grad_clip=dict(max_norm=0.5, norm_type=2)),
                                   log_config=dict(interval=1, hooks=[dict(type="TextLoggerHook")]))
    batch = next(iter(loader(ToyDataset(n=2))))
    runner.run([loader(ToyDataset(n=2))], [("train", 1)])

    out = manual.train_step(batch, None)
    out["loss"].backward()
    norm = torch.nn.utils.clip_grad_norm_(manual.parameters(), 0.5)
    with torch.no_grad():
        for p in manual.parameters():
            p -= 0.1 * p.grad
    for k, v in manual.state_dict().items():
        assert torch.allclose(model.state_dict()[k], v, atol=1e-7), k
    [line] = [d for d in read_json_log(tmp_path) if d.get("mode") == "train"]
    assert line["grad_norm"] == pytest.approx(float(norm), rel=1e-4) and float(norm) > 0.5


def test_cumulative_gradients_equal_one_big_batch(tmp_path):
    torch.manual_seed(2)
    a, b = ToyModel(), ToyModel()
    b.load_state_dict(a.state_dict())
    sgd = dict(type="SGD", lr=0.1)
    small = make_runner(None, "IterBasedRunner", model=a, max_iters=4, optimizer_cfg=sgd)
    small.register_training_hooks(lr_config=None, optimizer_config=dict(type="GradientCumulativeOptimizerHook",
                                                                        cumulative_iters=2))
    small.run([loader(ToyDataset(n=4), batch_size=1)], [("train", 1)])
    big = make_runner(None, "IterBasedRunner", model=b, max_iters=2, optimizer_cfg=sgd)
    big.register_training_hooks(lr_config=None, optimizer_config={})
    big.run([loader(ToyDataset(n=4), batch_size=2)], [("train", 1)])
    for k, v in b.state_dict().items():
        assert torch.allclose(a.state_dict()[k], v, atol=1e-6), k


def test_ema_hook_keeps_the_hand_computed_average(tmp_path):
    class Record(Hook):  # runs after the optimizer step (40) and before the EMA update (50)
        def __init__(self):
            self.params = []

        def after_train_iter(self, r):
            self.params.append(r.model.reg.weight.detach().clone())

    rec = Record()
    runner = make_runner(str(tmp_path), max_epochs=1)
    init = runner.model.reg.weight.detach().clone()
    runner.register_training_hooks(lr_config=None, optimizer_config={}, custom_hooks_config=[
        dict(type="LinearMomentumEMAHook", momentum=0.5, warm_up=1, priority="NORMAL")])
    runner.register_hook(rec, priority=45)
    runner.run([loader(ToyDataset(n=6))], [("train", 1)])
    ema = init
    for p in rec.params:
        ema = 0.5 * ema + 0.5 * p
    # after the epoch the model holds the averages and the buffers the raw weights
    assert torch.allclose(runner.model.reg.weight, ema, atol=1e-7)
    assert torch.allclose(runner.model.ema_reg_weight, rec.params[-1])


def test_fp16_config_trains_under_bf16_autocast_on_cpu(tmp_path):
    from detcli.engine import Fp16OptimizerHook

    runner = make_runner(str(tmp_path), "IterBasedRunner", max_iters=3)
    before = state_of(runner.model)
    runner.register_training_hooks(lr_config=None, optimizer_config=Fp16OptimizerHook(loss_scale=512.0))
    runner.run([loader(ToyDataset(n=6))], [("train", 1)])
    assert runner.model.autocast_seen == [True, True, True]
    after = state_of(runner.model)
    assert after["reg.weight"].dtype == torch.float32 and not torch.equal(after["reg.weight"], before["reg.weight"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_on_cuda_scales_the_loss_and_checkpoints_the_scaler(tmp_path):
    from detcli.engine import Fp16OptimizerHook

    model = ToyModel().cuda()
    runner = make_runner(str(tmp_path), "IterBasedRunner", model=model, max_iters=3, device="cuda")
    hook = Fp16OptimizerHook(loss_scale="dynamic")
    runner.register_training_hooks(lr_config=None, optimizer_config=hook, checkpoint_config=dict(interval=3))
    runner.run([loader(ToyDataset(n=6))], [("train", 1)])
    assert model.autocast_seen == [True, True, True] and hook.scaler is not None
    saved = torch.load(tmp_path / "iter_3.pth", weights_only=True)["meta"]["fp16"]["loss_scaler"]
    assert saved["scale"] == hook.scaler.get_scale()

    resumed = make_runner(str(tmp_path / "r"), "IterBasedRunner", model=ToyModel().cuda(), max_iters=4,
                          device="cuda")
    hook2 = Fp16OptimizerHook(loss_scale="dynamic")
    resumed.register_training_hooks(lr_config=None, optimizer_config=hook2)
    resumed.resume(str(tmp_path / "iter_3.pth"))
    resumed.run([loader(ToyDataset(n=6))], [("train", 1)])
    assert hook2.scaler.state_dict()["_growth_tracker"] == saved["_growth_tracker"] + 1


def test_eval_hook_logs_metrics_and_keeps_the_best_checkpoint(tmp_path):
    runner = make_runner(str(tmp_path), max_epochs=3)
    hooks(runner)
    val = loader(ToyDataset(n=4, seed=3), batch_size=2)
    runner.register_hook(EvalHook(val, interval=1, save_best="auto", test_fn=toy_test_fn), priority="LOW")
    runner.run([loader(ToyDataset(n=8))], [("train", 1)])
    val_lines = [d for d in read_json_log(tmp_path) if d.get("mode") == "val"]
    assert [(d["epoch"], d["iter"]) for d in val_lines] == [(1, 2), (2, 2), (3, 2)]
    scores = [d["bbox_mAP"] for d in val_lines]
    best_epoch = scores.index(max(scores)) + 1
    assert [f for f in os.listdir(tmp_path) if f.startswith("best_")] == [f"best_bbox_mAP_epoch_{best_epoch}.pth"]
    meta = torch.load(tmp_path / f"best_bbox_mAP_epoch_{best_epoch}.pth", weights_only=True)["meta"]
    assert meta["hook_msgs"]["best_score"] == pytest.approx(max(scores), abs=1e-5)
    assert os.readlink(tmp_path / "latest.pth") == "epoch_3.pth"


def test_eval_rule_is_inferred_from_the_metric_name():
    val = loader(ToyDataset(n=2))
    assert EvalHook(val, save_best="bbox_mAP").rule == "greater"
    assert EvalHook(val, save_best="val_loss").rule == "less"
    assert EvalHook(val, save_best="val_loss", rule="greater").rule == "greater"
    with pytest.raises(ConfigError, match="cannot tell whether a larger 'f_score' is better") as err:
        EvalHook(val, save_best="f_score")
    assert "evaluation.rule" in err.value.hint


def test_num_class_check_fails_fast_with_the_key_to_set(tmp_path):
    runner = make_runner(str(tmp_path), max_epochs=1, model=ToyModel(num_classes=3))
    runner.register_training_hooks(lr_config=None, optimizer_config={},
                                   custom_hooks_config=[dict(type="NumClassCheckHook")])
    with pytest.raises(ConfigError, match=r"num_classes \(3\) of ClsHead .* 2 CLASSES of ToyDataset") as err:
        runner.run([loader(ToyDataset(n=4))], [("train", 1)])
    assert err.value.hint.startswith("set model.cls_head.num_classes=2")


@pytest.mark.parametrize(("hook", "package"), [("TensorboardLoggerHook", "tensorboard"), ("WandbLoggerHook", "wandb"),
                                               ("MlflowLoggerHook", "mlflow")])
def test_optional_logger_without_its_package_fails_before_training(hook, package):
    import importlib.util

    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    runner = make_runner(None, max_epochs=1)
    with pytest.raises(ConfigError, match=f"{hook} in log_config.hooks needs the {package} package") as err:
        runner.register_training_hooks(lr_config=None, log_config=dict(interval=1, hooks=[dict(type=hook)]))
    assert f"pip install {package}" in err.value.hint
