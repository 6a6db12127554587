"""``--unsafe-load``: checkpoints that pickle more than weights are refused unless the user asks, with a warning."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from detcli.apis.train import load_weights
from detcli.cli import main
from detcli.engine.checkpoint import (
    UNSAFE_LOAD_ENV,
    allow_unsafe_load,
    load_checkpoint_file,
    unsafe_load_allowed,
)
from detcli.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[2]
RETINA = str(ROOT / "configs/shapes/retinanet_r18_fpn_shapes.py")


@pytest.fixture(autouse=True)
def _safe_by_default(monkeypatch):
    """Every test starts without the switch, and whatever a test turns on is undone after it."""
    monkeypatch.setenv(UNSAFE_LOAD_ENV, "0")


def _pickled_checkpoint(path: Path, state: dict) -> str:
    # numpy scalars in meta are what old tools left there (e.g. a best score); the safe loader refuses them
    torch.save({"meta": {"CLASSES": ("a", "b", "c", "d"), "hook_msgs": {"best_score": np.float64(0.7)}},
                "state_dict": state}, path)
    return str(path)


def test_refused_without_the_flag_and_the_message_names_it(tmp_path):
    path = _pickled_checkpoint(tmp_path / "old.pth", {"w": torch.ones(2)})
    with pytest.raises(CheckpointError, match="weights-only load refuses") as info:
        load_checkpoint_file(path)
    # one line that names the refused object, not torch's paragraphs of advice
    assert re.fullmatch(r".* refuses \(numpy\._?core\.multiarray\.scalar\)", str(info.value)), str(info.value)
    assert "--unsafe-load" in info.value.hint and "det upgrade-ckpt" in info.value.hint


def test_loads_with_the_switch_and_warns(tmp_path, capsys):
    path = _pickled_checkpoint(tmp_path / "old.pth", {"w": torch.ones(2)})
    allow_unsafe_load()
    assert "executes any code" in capsys.readouterr().err
    assert unsafe_load_allowed() and os.environ[UNSAFE_LOAD_ENV] == "1"  # inherited by spawned workers
    ckpt = load_checkpoint_file(path)
    assert ckpt["meta"]["hook_msgs"]["best_score"] == np.float64(0.7)
    with pytest.raises(CheckpointError):  # an explicit weights-only read stays weights-only
        load_checkpoint_file(path, weights_only=True)


@pytest.mark.parametrize(("value", "allowed"), [("1", True), ("yes", True), ("0", False), ("", False),
                                                ("false", False)])
def test_environment_values(monkeypatch, value, allowed):
    monkeypatch.setenv(UNSAFE_LOAD_ENV, value)
    assert unsafe_load_allowed() is allowed


def test_load_from_of_training_uses_the_switch(tmp_path):
    model = nn.Linear(2, 2)
    path = _pickled_checkpoint(tmp_path / "old.pth", {k: v + 1 for k, v in model.state_dict().items()})
    with pytest.raises(CheckpointError, match="weights-only load refuses") as info:
        load_weights(model, path, logging.getLogger("test"))
    assert "--unsafe-load" in info.value.hint
    allow_unsafe_load()
    load_weights(model, path, logging.getLogger("test"))
    assert torch.equal(model.bias.detach(), torch.load(path, weights_only=False)["state_dict"]["bias"])


def test_det_infer_refuses_then_loads_with_the_flag(tmp_path, capsys):
    from detcli.tools.flops import build_model_for_counting

    ckpt = _pickled_checkpoint(tmp_path / "retina.pth", build_model_for_counting(RETINA).state_dict())
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.full((96, 128, 3), 127, np.uint8))

    assert main(["infer", str(image), RETINA, ckpt, "--device", "cpu"]) == 1
    assert "--unsafe-load" in capsys.readouterr().err

    assert main(["infer", str(image), RETINA, ckpt, "--device", "cpu", "--unsafe-load"]) == 0
    captured = capsys.readouterr()
    assert "executes any code" in captured.err
    record = json.loads(captured.out.splitlines()[0])
    assert str(image) in json.dumps(record)


@pytest.mark.parametrize("command", ["test", "train", "infer", "webcam", "upgrade-ckpt"])
def test_commands_that_read_checkpoints_offer_the_flag(command, capsys):
    assert main([command, "--help"]) == 0
    assert "--unsafe-load" in capsys.readouterr().out
