"""``det publish IN.pth OUT.pth``: weights and meta only, CPU tensors, sha256 prefix in the name."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.cli import main
from detcli.tools.publish import publish_checkpoint


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_a_det_train_checkpoint(tiny_run, tmp_path, capsys):
    source = tiny_run.work_dir / "epoch_3.pth"
    original = torch.load(source, map_location="cpu", weights_only=True)
    assert original["optimizer"]["state"]  # the training state that must go

    assert main(["publish", str(source), str(tmp_path / "pub" / "faster_rcnn_tiny.pth")]) == 0
    lines = capsys.readouterr().out.splitlines()
    (final,) = (tmp_path / "pub").iterdir()  # nothing else left behind
    assert final.name == f"faster_rcnn_tiny-{sha256(final)[:8]}.pth"
    assert lines[0] == str(final)
    assert lines[1].startswith("size: 1.7 MB -> ") and "(removed: optimizer)" in lines[1]

    published = torch.load(final, map_location="cpu", weights_only=True)
    assert set(published) == {"meta", "state_dict"}
    assert published["meta"] == original["meta"]  # CLASSES, config, versions, epoch, iter
    assert published["meta"]["CLASSES"] == ("circle", "square", "triangle", "star")
    assert "runner = dict(" in published["meta"]["config"] and published["meta"]["epoch"] == 3
    assert published["state_dict"].keys() == original["state_dict"].keys()
    for key, value in original["state_dict"].items():
        assert published["state_dict"][key].device.type == "cpu"
        assert torch.equal(published["state_dict"][key], value), key

    from detcli.config import Config
    from detcli.engine.checkpoint import load_state_dict
    from detcli.models import build_detector

    model = build_detector(Config.fromfile(str(tiny_run.config)).model)
    assert load_state_dict(model, published["state_dict"]).clean


def test_ema_buffers_and_other_training_state_are_dropped(tmp_path):
    weights = {"head.weight": torch.randn(3, 2), "ema_head_weight": torch.randn(3, 2)}
    source = tmp_path / "ema.pth"
    torch.save({"meta": {"CLASSES": ("a", "b", "c"), "epoch": 12}, "state_dict": weights,
                "optimizer": {"state": {}, "param_groups": []}, "amp": {"scale": 1024.0}}, source)
    done = publish_checkpoint(str(source), str(tmp_path / "out.pth"))
    assert (done.removed, done.ema_keys_removed) == (["optimizer", "amp"], 1)
    final = Path(done.path)
    assert final.parent == tmp_path and final.name == f"out-{sha256(final)[:8]}.pth"
    assert list(torch.load(done.path, weights_only=True)["state_dict"]) == ["head.weight"]
    kept = publish_checkpoint(str(source), str(tmp_path / "kept"), keep_ema=True)  # no .pth: appended
    assert kept.path.endswith(".pth") and kept.path.startswith(str(tmp_path / "kept-"))
    assert set(torch.load(kept.path, weights_only=True)["state_dict"]) == set(weights)


def test_a_bare_state_dict_is_published_with_empty_meta(tmp_path, capsys):
    torch.save({"conv.weight": torch.ones(2, 2)}, tmp_path / "bare.pth")
    assert main(["publish", str(tmp_path / "bare.pth"), str(tmp_path / "bare_pub.pth"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sha256"] == sha256(Path(result["path"]))
    published = torch.load(result["path"], weights_only=True)
    assert published["meta"] == {} and torch.equal(published["state_dict"]["conv.weight"], torch.ones(2, 2))


def test_a_pickled_checkpoint_needs_unsafe_load_and_comes_out_safe(tmp_path, capsys):
    source = tmp_path / "np.pth"
    torch.save({"meta": {"scores": np.array([0.5, 0.25])}, "state_dict": {"w": torch.ones(1)}}, source)
    assert main(["publish", str(source), str(tmp_path / "np_pub.pth")]) == 1
    err = capsys.readouterr().err
    assert "weights-only load refuses" in err and "--unsafe-load" in err
    assert not list(tmp_path.glob("np_pub*"))
    assert main(["publish", str(source), str(tmp_path / "np_pub.pth"), "--unsafe-load"]) == 0
    assert "warning: --unsafe-load" in capsys.readouterr().err
    (final,) = tmp_path.glob("np_pub-*.pth")
    assert torch.load(final, weights_only=True)["meta"]["scores"] == [0.5, 0.25]


def test_meta_a_weights_only_load_would_refuse_is_one_line_and_nothing_is_left(tmp_path, capsys):
    source = tmp_path / "odd.pth"
    torch.save({"meta": {"ratio": Fraction(1, 3)}, "state_dict": {"w": torch.ones(1)}}, source)
    assert main(["publish", str(source), str(tmp_path / "odd_pub.pth"), "--unsafe-load"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning:")]
    assert lines[0] == (f"error: the published copy of {source} would not load with weights_only=True "
                        "(fractions.Fraction)")
    assert lines[1].startswith("hint: its meta holds objects other than") and len(lines) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.pth"]


def test_missing_input_is_one_line(tmp_path, capsys):
    assert main(["publish", str(tmp_path / "nope.pth"), str(tmp_path / "x.pth")]) == 1
    assert "checkpoint file not found" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_come_out_on_the_cpu(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(2, device="cuda")}}, tmp_path / "gpu.pth")
    done = publish_checkpoint(str(tmp_path / "gpu.pth"), str(tmp_path / "gpu_pub.pth"))
    assert torch.load(done.path, weights_only=True)["state_dict"]["w"].device.type == "cpu"
