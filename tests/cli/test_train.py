"""``det train`` end to end: tiny RetinaNet / Faster R-CNN on generated shapes, DDP on CPU, signals,
resume, fine-tuning and the bad-input cases (one clear line each)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import tiny_configs
import torch
from error_lines import clean_error

from detcli.cli import main

REPO = Path(__file__).resolve().parents[2]
TOYS = REPO / "tests" / "engine"
if str(TOYS) not in sys.path:
    sys.path.insert(0, str(TOYS))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TOYS), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("DETCLI_NO_PROGRESS", "1")

SCHEDULE = """
optimizer = dict(lr=0.02)
lr_config = dict(warmup_iters=2, step=[100])
log_config = dict(interval=2)
runner = dict(max_epochs=6)
"""
RETINANET = tiny_configs.RETINANET + SCHEDULE + "evaluation = dict(interval=3, metric='bbox', save_best='auto')\n"
FASTER_RCNN = tiny_configs.FASTER_RCNN + SCHEDULE

TOY = '''
custom_imports = dict(imports=['engine_toys'], allow_failed_imports=False)
model = dict(type='ToyModel', num_classes={num_classes}, nan_at={nan_at})
data = dict(samples_per_gpu={per_gpu}, workers_per_gpu=0, train_dataloader=dict(shuffle={shuffle}),
            train=dict(type='ToyDataset', n=8, aug_noise={noise}, num_classes={num_classes}))
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[2], warmup='linear', warmup_iters=2, warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=3)
checkpoint_config = dict(interval=1)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='NumClassCheckHook')]
dist_params = dict(backend='nccl')
workflow = [('train', 1)]
load_from = None
resume_from = None
'''


def toy_config(path: Path, num_classes=2, nan_at=None, per_gpu=2, shuffle=True, noise=0.1, extra="") -> Path:
    path.write_text(TOY.format(num_classes=num_classes, nan_at=nan_at, per_gpu=per_gpu, shuffle=shuffle,
                               noise=noise) + extra)
    return path


def json_log(work_dir: Path) -> list[dict]:
    (path,) = work_dir.glob("*.log.json")
    return [json.loads(line) for line in path.read_text().splitlines()]


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def detector_config(tmp_path: Path, template: str, name: str, shapes: Path) -> Path:
    cfg = tmp_path / name
    cfg.write_text(tiny_configs.tiny_config(template, shapes))
    return cfg


def check_run_artefacts(work: Path, config_name: str, epochs: int, iters_per_epoch: int) -> list[dict]:
    (log,) = work.glob("*.log")
    (jlog,) = work.glob("*.log.json")
    assert jlog.name == log.name + ".json"  # one timestamp for both
    assert (work / config_name).is_file()  # the dumped config
    assert {f"epoch_{e}.pth" for e in range(1, epochs + 1)} <= {p.name for p in work.glob("*.pth")}
    assert os.readlink(work / "latest.pth") == f"epoch_{epochs}.pth"
    text = log.read_text()
    assert "Environment info" in text and "Set random seed to 0" in text and f"Epoch [{epochs}][" in text
    lines = json_log(work)
    assert set(lines[0]) == {"env_info", "config", "seed", "exp_name"}
    assert lines[0]["seed"] == 0 and lines[0]["exp_name"] == config_name
    train = [d for d in lines if d.get("mode") == "train"]
    assert len(train) == epochs * iters_per_epoch // 2  # log interval 2
    ckpt = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)
    assert ckpt["meta"]["CLASSES"] == ("circle", "square", "triangle", "star")
    assert (ckpt["meta"]["epoch"], ckpt["meta"]["iter"]) == (epochs, epochs * iters_per_epoch)
    return lines


def losses_fall(train_lines: list[dict]) -> None:
    first = sum(d["loss"] for d in train_lines[:2]) / 2
    last = sum(d["loss"] for d in train_lines[-2:]) / 2
    assert last < 0.85 * first, (first, last)


def test_retinanet_trains_logs_evaluates_and_checkpoints(tmp_path, shapes):
    cfg = detector_config(tmp_path, RETINANET, "retinanet_tiny.py", shapes)
    work = tmp_path / "work"
    assert main(["train", str(cfg), "--work-dir", str(work), "--device", "cpu", "--seed", "0"]) == 0
    lines = check_run_artefacts(work, "retinanet_tiny.py", epochs=6, iters_per_epoch=2)
    train = [d for d in lines if d.get("mode") == "train"]
    losses_fall(train)
    assert {"loss_cls", "loss_bbox", "lr", "memory", "time", "data_time"} <= set(train[0])
    val = [d for d in lines if d.get("mode") == "val"]
    assert [(d["epoch"], d["iter"]) for d in val] == [(3, 2), (6, 2)]
    assert all(0.0 <= d["bbox_mAP"] <= 1.0 for d in val)
    best = [p.name for p in work.glob("best_bbox_mAP_epoch_*.pth")]
    assert len(best) == 1


def test_faster_rcnn_trains_and_its_losses_fall(tmp_path, shapes):
    cfg = detector_config(tmp_path, FASTER_RCNN, "faster_rcnn_tiny.py", shapes)
    work = tmp_path / "work"
    assert main(["train", str(cfg), "--work-dir", str(work), "--device", "cpu", "--seed", "0",
                 "--no-validate"]) == 0
    lines = check_run_artefacts(work, "faster_rcnn_tiny.py", epochs=6, iters_per_epoch=2)
    train = [d for d in lines if d.get("mode") == "train"]
    assert {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc"} <= set(train[0])
    losses_fall(train)
    assert not [d for d in lines if d.get("mode") == "val"]


def test_two_cpu_processes_match_one_process_with_the_same_total_batch(tmp_path):
    two = toy_config(tmp_path / "two.py", per_gpu=1, shuffle=False, noise=0.0)
    one = toy_config(tmp_path / "one.py", per_gpu=2, shuffle=False, noise=0.0)
    assert main(["train", str(two), "--work-dir", str(tmp_path / "w2"), "--gpus", "2", "--device", "cpu",
                 "--seed", "0"]) == 0
    assert main(["train", str(one), "--work-dir", str(tmp_path / "w1"), "--device", "cpu", "--seed", "0"]) == 0
    ddp, single = weights(tmp_path / "w2" / "latest.pth"), weights(tmp_path / "w1" / "latest.pth")
    for k, v in single.items():
        assert torch.allclose(ddp[k], v, rtol=1e-5, atol=1e-6), k
    # rank 0 alone writes: one log, one line per iteration, losses averaged over the two processes
    two_lines = [d for d in json_log(tmp_path / "w2") if d.get("mode") == "train"]
    one_lines = [d for d in json_log(tmp_path / "w1") if d.get("mode") == "train"]
    assert len(two_lines) == len(one_lines) == 12
    for a, b in zip(two_lines, one_lines):
        assert a["loss_reg"] == pytest.approx(b["loss_reg"], rel=1e-4, abs=1e-5)


def test_sigterm_leaves_a_checkpoint_and_auto_resume_finishes_like_an_uninterrupted_run(tmp_path, capsys):
    full = toy_config(tmp_path / "full.py")
    assert main(["train", str(full), "--work-dir", str(tmp_path / "full"), "--seed", "3", "--deterministic"]) == 0
    killer = '''
import os as _os, signal as _signal
from detcli.engine import Hook as _Hook
from detcli.registry import HOOKS as _HOOKS
@_HOOKS.register_module(force=True)
class KillAt(_Hook):
    def __init__(self, at):
        self.at = at
    def after_train_iter(self, runner):
        if runner.iter + 1 == self.at:
            _os.kill(_os.getpid(), _signal.SIGTERM)
custom_hooks = [dict(type='NumClassCheckHook'), dict(type='KillAt', at=6)]
'''
    killed = toy_config(tmp_path / "killed.py", extra=killer)
    work = tmp_path / "killed"
    capsys.readouterr()
    assert main(["train", str(killed), "--work-dir", str(work), "--seed", "3", "--deterministic"]) == 1
    err = capsys.readouterr().err
    assert f"training stopped by SIGTERM at iteration 6; checkpoint saved to {work}/iter_6.pth" in err
    assert "Traceback" not in err
    ckpt = torch.load(work / "iter_6.pth", map_location="cpu", weights_only=True)
    assert (ckpt["meta"]["epoch"], ckpt["meta"]["iter"], ckpt["meta"]["inner_iter"]) == (1, 6, 2)

    resume = toy_config(tmp_path / "resume.py")  # the same run without the killer hook
    # no --seed: a resumed run continues with the seed of the run it continues
    assert main(["train", str(resume), "--work-dir", str(work), "--deterministic", "--auto-resume"]) == 0
    expected, got = weights(tmp_path / "full" / "epoch_3.pth"), weights(work / "epoch_3.pth")
    for k in expected:
        assert torch.equal(got[k], expected[k]), k


def test_fine_tuning_to_another_num_classes_through_load_from(tmp_path):
    src = toy_config(tmp_path / "src.py", num_classes=2)
    assert main(["train", str(src), "--work-dir", str(tmp_path / "src"), "--seed", "0"]) == 0
    ft = toy_config(tmp_path / "ft.py", num_classes=3, extra=f"load_from = '{tmp_path / 'src' / 'epoch_3.pth'}'\n")
    assert main(["train", str(ft), "--work-dir", str(tmp_path / "ft"), "--seed", "0",
                 "--cfg-options", "runner.max_epochs=1"]) == 0
    (log,) = (tmp_path / "ft").glob("*.log")
    text = log.read_text()
    assert "keys: 2 with another shape" in text
    assert "other shapes (kept the model's): cls_head.fc_cls.weight (2, 8) vs model (3, 8)" in text
    assert "4 of 6 weights loaded" in text
    assert torch.load(tmp_path / "ft" / "epoch_1.pth", weights_only=True)["meta"]["iter"] == 4


def test_nan_loss_is_one_line_naming_iteration_and_loss(tmp_path, capsys):
    cfg = toy_config(tmp_path / "nan.py", nan_at=6)
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w"), "--seed", "0"])
    assert "loss_reg became nan at iteration 6 (epoch 2, batch 2)" in line
    assert "last checkpoint:" in line and "epoch_1.pth" in line
    assert not (tmp_path / "w" / "epoch_2.pth").exists()


def test_bad_inputs_give_one_clear_line_each(tmp_path, capsys):
    good = toy_config(tmp_path / "good.py")
    run = ["train", str(good), "--seed", "0"]

    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    line = clean_error(capsys, [*run, "--work-dir", str(blocker / "work")])
    assert "cannot write to work_dir" in line

    line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w1"), "--resume-from",
                                   str(tmp_path / "missing.pth")])
    assert "resume checkpoint not found" in line and "missing.pth" in line

    other = toy_config(tmp_path / "other.py", num_classes=4)
    assert main(["train", str(other), "--work-dir", str(tmp_path / "other"), "--seed", "0",
                 "--cfg-options", "runner.max_epochs=1"]) == 0
    line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w2"), "--resume-from",
                                   str(tmp_path / "other" / "epoch_1.pth")])
    assert "does not fit ToyModel" in line

    torch.save({"state_dict": {"conv.weight": torch.zeros(3)}}, tmp_path / "alien.pth")
    line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w3"), "--cfg-options",
                                   f"load_from={tmp_path / 'alien.pth'}"])
    assert "has no weights for ToyModel" in line

    line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w4"), "--cfg-options",
                                   "model.num_classes=3"])
    assert "num_classes (3) of ClsHead in ToyModel does not match the 2 CLASSES of ToyDataset" in line

    line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w5"), "--cfg-options",
                                   "lr_config.policy=cosin"])
    assert "'CosinLrUpdaterHook' is not in the hooks registry" in line

    if not torch.cuda.is_available():
        line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w6"), "--device", "cuda"])
        assert "device 'cuda' was asked for, but no CUDA GPU is available" in line
        line = clean_error(capsys, [*run, "--work-dir", str(tmp_path / "w7"), "--device", "cuda", "--gpus", "2"])
        assert "--gpus 2 but only 0 CUDA GPUs are visible" in line

    line = clean_error(capsys, ["train", str(tmp_path / "nope.py")])
    assert "nope.py" in line

    capsys.readouterr()
    assert main([*run, "--launcher", "pbs"]) != 0  # a usage error, reported by the CLI parser
    err = capsys.readouterr().err
    assert "Invalid value for --launcher: 'pbs' is not one of none, pytorch, slurm, mpi" in err
    assert "Traceback" not in err


def test_retinanet_ddp_on_two_cpu_processes_evaluates_on_rank_zero(tmp_path, shapes):
    cfg = detector_config(tmp_path, RETINANET, "retinanet_tiny.py", shapes)
    work = tmp_path / "work"
    assert main(["train", str(cfg), "--work-dir", str(work), "--device", "cpu", "--seed", "0", "--gpus", "2",
                 "--cfg-options", "runner.max_epochs=2", "evaluation.interval=2", "log_config.interval=1"]) == 0
    lines = json_log(work)
    train = [d for d in lines if d.get("mode") == "train"]
    assert [(d["epoch"], d["iter"]) for d in train] == [(1, 1), (2, 1)]  # 4 images / (2 processes x 2)
    (val,) = [d for d in lines if d.get("mode") == "val"]
    assert val["epoch"] == 2 and "bbox_mAP" in val
    ckpt = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    assert ckpt["meta"]["iter"] == 2


def test_iteration_based_retinanet_with_evaluation_by_iteration(tmp_path, shapes):
    cfg = detector_config(tmp_path, RETINANET, "retinanet_iter.py", shapes)
    with open(cfg, "a") as f:
        f.write("runner = dict(_delete_=True, type='IterBasedRunner', max_iters=6)\n"
                "checkpoint_config = dict(interval=3)\nevaluation = dict(interval=3, metric='bbox')\n")
    work = tmp_path / "work"
    assert main(["train", str(cfg), "--work-dir", str(work), "--device", "cpu", "--seed", "0"]) == 0
    assert {"iter_3.pth", "iter_6.pth", "latest.pth"} <= {p.name for p in work.glob("*.pth")}
    lines = json_log(work)
    assert [d["iter"] for d in lines if d.get("mode") == "train"] == [2, 4, 6]
    assert [d["iter"] for d in lines if d.get("mode") == "val"] == [2, 2]  # after iterations 3 and 6


def test_amp_flag_trains_under_bfloat16_autocast_on_cpu(tmp_path):
    cfg = toy_config(tmp_path / "amp.py")
    assert main(["train", str(cfg), "--work-dir", str(tmp_path / "w"), "--seed", "0", "--amp",
                 "--cfg-options", "runner.max_epochs=1"]) == 0
    (log,) = (tmp_path / "w").glob("*.log")
    assert "mixed precision on cpu: bfloat16 autocast" in log.read_text()
    assert "fp16 = dict(loss_scale='dynamic')" in (tmp_path / "w" / "amp.py").read_text()


def _det(*args: str) -> list[str]:
    return [sys.executable, "-m", "detcli", "train", *args]


def test_two_nodes_of_one_process_each_match_one_process_with_their_total_batch(tmp_path):
    """--nnodes/--node-rank/--master-port, simulated with two "nodes" on this machine."""
    import subprocess

    from detcli.engine.dist import find_free_port

    cfg = toy_config(tmp_path / "toy.py", per_gpu=1, shuffle=False, noise=0.0)
    port = str(find_free_port())
    common = ["--device", "cpu", "--seed", "0", "--gpus", "1", "--nnodes", "2", "--master-port", port]
    env = dict(os.environ, DETCLI_NO_PROGRESS="1")
    nodes = [subprocess.Popen(_det(str(cfg), *common, "--node-rank", str(r), "--work-dir", str(tmp_path / f"n{r}")),
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for r in (1, 0)]
    outs = [n.communicate(timeout=120)[1] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outs
    assert not list((tmp_path / "n1").glob("*.pth"))  # only global rank 0 writes
    one = toy_config(tmp_path / "one.py", per_gpu=2, shuffle=False, noise=0.0)
    assert main(["train", str(one), "--work-dir", str(tmp_path / "one"), "--device", "cpu", "--seed", "0"]) == 0
    a, b = weights(tmp_path / "n0" / "latest.pth"), weights(tmp_path / "one" / "latest.pth")
    for k in b:
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k


def test_sigterm_to_the_launcher_reaches_the_workers_which_save_and_stop(tmp_path):
    import signal
    import subprocess
    import time

    cfg = toy_config(tmp_path / "long.py", per_gpu=1, extra=(
        "runner = dict(type='EpochBasedRunner', max_epochs=100000)\n"
        "log_config = dict(interval=4, hooks=[dict(type='TextLoggerHook')])\n"
        "checkpoint_config = dict(interval=100000)\n"))
    work = tmp_path / "work"
    proc = subprocess.Popen(_det(str(cfg), "--device", "cpu", "--gpus", "2", "--seed", "0", "--work-dir", str(work)),
                            env=dict(os.environ, DETCLI_NO_PROGRESS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline and not any(p.stat().st_size > 0 for p in work.glob("*.log.json")):
        time.sleep(0.2)
    time.sleep(0.5)  # some iterations into the run
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "training stopped by SIGTERM at iteration" in lines[0], err
    (saved,) = work.glob("iter_*.pth")
    ckpt = torch.load(saved, map_location="cpu", weights_only=True)
    assert ckpt["meta"]["iter"] == int(saved.stem.split("_")[1]) > 0
    assert os.path.realpath(work / "latest.pth") == str(saved)


def test_faster_rcnn_resumed_mid_epoch_ends_with_the_same_weights(tmp_path, shapes):
    """Random flips, shuffling and RoI sampling: a resumed run still repeats the uninterrupted one bit for bit."""
    cfg = detector_config(tmp_path, FASTER_RCNN.replace("flip_ratio=0.0", "flip_ratio=0.5"), "frcnn.py", shapes)
    opts = ["--device", "cpu", "--no-validate", "--deterministic", "--cfg-options", "runner.max_epochs=3",
            "checkpoint_config.by_epoch=False", "checkpoint_config.interval=3"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", str(cfg), "--work-dir", str(full), "--seed", "5", *opts]) == 0
    meta = torch.load(full / "iter_3.pth", map_location="cpu", weights_only=True)["meta"]
    assert (meta["epoch"], meta["iter"], meta["inner_iter"]) == (1, 3, 1)  # inside epoch 2
    part.mkdir()
    (part / "iter_3.pth").write_bytes((full / "iter_3.pth").read_bytes())
    assert main(["train", str(cfg), "--work-dir", str(part), "--auto-resume", *opts]) == 0
    a, b = weights(full / "iter_6.pth"), weights(part / "iter_6.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)
