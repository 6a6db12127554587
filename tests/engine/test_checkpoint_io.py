"""Checkpoint saving (atomic, latest.pth, safe-loadable meta), discovery, resume vs load_from, fine-tuning."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from engine_toys import ToyDataset, ToyModel, loader, make_runner, state_of

from detcli.apis.train import load_weights
from detcli.engine.checkpoint import find_latest_checkpoint, link_latest, save_checkpoint
from detcli.errors import CheckpointError


def test_saved_checkpoint_is_weights_only_loadable_with_numpy_meta(tmp_path):
    model = ToyModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train_step(next(iter(loader(ToyDataset()))), opt)["loss"].backward()
    opt.step()
    path = tmp_path / "x.pth"
    save_checkpoint(model, str(path), optimizer=opt, meta=dict(
        epoch=1, iter=4, hook_msgs=dict(best_score=np.float64(0.5)), arr=np.arange(3), config="cfg"))
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt) == {"meta", "state_dict", "optimizer"}
    meta = ckpt["meta"]
    assert meta["hook_msgs"]["best_score"] == 0.5 and type(meta["hook_msgs"]["best_score"]) is float
    assert meta["arr"] == [0, 1, 2] and meta["CLASSES"] == ("a", "b") and meta["epoch"] == 1
    assert {"detcli_version", "torch_version", "time"} <= set(meta)
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt["state_dict"][k], v)
    assert ckpt["optimizer"]["state"][0]["momentum_buffer"].shape == model.backbone.weight.shape


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "epoch_1.pth"
    save_checkpoint(ToyModel(), str(path), meta=dict(epoch=1, iter=1))
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise RuntimeError("disk went away")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk went away"):
        save_checkpoint(ToyModel(), str(path), meta=dict(epoch=2, iter=2))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["epoch_1.pth"]  # no temp file left behind


def test_unwritable_target_is_a_checkpoint_error(tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("a file where a directory should be")
    with pytest.raises(CheckpointError, match="cannot write checkpoint") as err:
        save_checkpoint(ToyModel(), str(target / "epoch_1.pth"))
    assert "work-dir" in err.value.hint


def test_latest_is_a_relative_symlink_or_a_copy(tmp_path, monkeypatch):
    a, b = tmp_path / "epoch_1.pth", tmp_path / "epoch_2.pth"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    link_latest(str(a), str(tmp_path / "latest.pth"))
    link_latest(str(b), str(tmp_path / "latest.pth"))
    assert os.readlink(tmp_path / "latest.pth") == "epoch_2.pth"

    def no_symlinks(*args):
        raise OSError("symlinks not supported here")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    link_latest(str(a), str(tmp_path / "latest.pth"))
    assert not os.path.islink(tmp_path / "latest.pth") and (tmp_path / "latest.pth").read_bytes() == b"one"


def test_find_latest_checkpoint(tmp_path):
    assert find_latest_checkpoint(str(tmp_path / "missing")) is None
    assert find_latest_checkpoint(str(tmp_path)) is None
    for i, name in enumerate(["epoch_2.pth", "epoch_10.pth", "best_bbox_mAP_epoch_11.pth"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "epoch_10.pth")
    link_latest(str(tmp_path / "epoch_2.pth"), str(tmp_path / "latest.pth"))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "latest.pth")


def test_max_keep_ckpts_deletes_older_periodic_checkpoints(tmp_path):
    runner = make_runner(str(tmp_path), max_epochs=5)
    runner.register_training_hooks(lr_config=None, optimizer_config={},
                                   checkpoint_config=dict(interval=1, max_keep_ckpts=2, save_optimizer=False))
    runner.run([loader(ToyDataset(n=2))], [("train", 1)])
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".pth")) == ["epoch_4.pth", "epoch_5.pth", "latest.pth"]
    assert "optimizer" not in torch.load(tmp_path / "epoch_5.pth", weights_only=True)


def trained(tmp_path, epochs=2, **model_kwargs):
    torch.manual_seed(0)
    runner = make_runner(str(tmp_path), max_epochs=epochs, model=ToyModel(**model_kwargs))
    runner.register_training_hooks(lr_config=None, optimizer_config={}, checkpoint_config=dict(interval=1))
    runner.run([loader(ToyDataset(n=4))], [("train", 1)])
    return runner


def test_resume_restores_optimizer_and_position_but_load_from_only_weights(tmp_path):
    old = trained(tmp_path / "old")
    ckpt = str(tmp_path / "old" / "epoch_2.pth")

    resumed = make_runner(str(tmp_path / "r"), max_epochs=3)
    resumed.resume(ckpt)
    assert (resumed.epoch, resumed.iter) == (2, 4)
    assert torch.equal(resumed.optimizer.state_dict()["state"][0]["momentum_buffer"],
                       old.optimizer.state_dict()["state"][0]["momentum_buffer"])

    fresh = make_runner(str(tmp_path / "f"), max_epochs=3)
    load_weights(fresh.model, ckpt, logging.getLogger("detcli"))
    assert (fresh.epoch, fresh.iter) == (0, 0) and not fresh.optimizer.state_dict()["state"]
    for k, v in state_of(old.model).items():
        assert torch.equal(state_of(fresh.model)[k], v)


def test_fine_tuning_to_other_num_classes_loads_all_but_the_class_layer(tmp_path, caplog):
    old = trained(tmp_path / "old", num_classes=2)
    torch.manual_seed(5)
    new = ToyModel(num_classes=5)
    init_cls = new.cls_head.fc_cls.weight.detach().clone()
    with caplog.at_level(logging.WARNING, logger="detcli"):
        load_weights(new, str(tmp_path / "old" / "epoch_2.pth"), logging.getLogger("detcli"))
    for k, v in state_of(old.model).items():
        if k.startswith("cls_head."):
            continue
        assert torch.equal(new.state_dict()[k], v), k
    assert torch.equal(new.cls_head.fc_cls.weight, init_cls)
    assert "cls_head.fc_cls.weight (2, 8) vs model (5, 8)" in caplog.text
    assert "cls_head.fc_cls.bias" in caplog.text


class Other(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def train_step(self, data, optimizer):
        raise NotImplementedError


def test_checkpoint_of_another_model_is_one_clear_error(tmp_path):
    trained(tmp_path / "old", epochs=1)
    ckpt = str(tmp_path / "old" / "epoch_1.pth")
    with pytest.raises(CheckpointError, match="has no weights for Other") as err:
        load_weights(Other(), ckpt, logging.getLogger("detcli"))
    assert "same kind of model" in err.value.hint

    runner = make_runner(None, max_epochs=1, model=ToyModel(num_classes=4))
    with pytest.raises(CheckpointError, match=r"does not fit ToyModel: 0 weights missing, 2 with other shapes") as err:
        runner.resume(ckpt)
    assert "load_from" in err.value.hint


def test_resume_from_weights_only_file_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": ToyModel().state_dict()}, path)
    with pytest.raises(CheckpointError, match="no training position"):
        make_runner(None, max_epochs=1).resume(str(path))
