"""``det test-robustness``: the corrupted test pipeline, resuming a stopped benchmark, errors."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

import detcli.apis
from detcli.cli import main
from detcli.config import Config
from detcli.errors import ConfigError, DataError
from detcli.tools.test_robustness import (
    RobustnessOptions,
    corrupted_test_config,
    load_results_file,
    planned_runs,
    run_test_robustness,
    save_results_file,
)


def _has_imagecorruptions() -> bool:
    try:
        import imagecorruptions  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken: either way the real runs cannot happen
        return False
    return True


needs_corruptions = pytest.mark.skipif(not _has_imagecorruptions(), reason="the optional imagecorruptions is absent")


def test_corrupt_goes_right_after_the_image_is_loaded():
    test = Config(dict(type="CocoDataset", pipeline=[dict(type="LoadImageFromFile"), dict(type="Resize"),
                                                     dict(type="Collect", keys=["img"])]))
    out = corrupted_test_config(test, "snow", 3)
    assert [s["type"] for s in out.pipeline] == ["LoadImageFromFile", "Corrupt", "Resize", "Collect"]
    assert out.pipeline[1] == dict(type="Corrupt", corruption="snow", severity=3)
    assert [s["type"] for s in test.pipeline] == ["LoadImageFromFile", "Resize", "Collect"]  # not changed
    assert corrupted_test_config(test, "snow", 0).pipeline == test.pipeline


def test_clean_images_are_tested_once():
    assert planned_runs(["snow", "fog"], [0, 1, 3]) == [("snow", 0), ("snow", 1), ("snow", 3), ("fog", 1), ("fog", 3)]
    assert planned_runs(["None"], [0, 1, 2]) == [("None", 0)]


def test_results_file_round_trip_and_refusing_code(tmp_path):
    path = tmp_path / "r.pkl"
    save_results_file({"snow": {0: {"bbox": {"AP": 0.5}}}}, path)
    assert load_results_file(path) == {"snow": {0: {"bbox": {"AP": 0.5}}}}
    assert not list(tmp_path.glob(".r.pkl.*"))  # no temp file left
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"snow": {0: print}}))
    with pytest.raises(DataError, match="builtins.print"):
        load_results_file(evil)
    listing = tmp_path / "list.pkl"
    listing.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DataError, match="not a robustness results file"):
        load_results_file(listing)


@pytest.mark.parametrize("change, message", [
    (dict(out="r.json"), "--out must end in .pkl"),
    (dict(eval=["proposal"]), "--eval 'proposal'"),
    (dict(severities=[0, 7]), "severities run from 0"),
    (dict(corruptions=["rain"]), "unknown corruption 'rain'"),
])
def test_bad_options_are_one_line_errors(change, message):
    opts = RobustnessOptions("cfg.py", "ckpt.pth", **change)
    with pytest.raises(ConfigError, match=message):
        run_test_robustness(opts)


def test_missing_imagecorruptions_is_one_line_before_any_work(monkeypatch, tiny_run):
    monkeypatch.setitem(sys.modules, "imagecorruptions", None)
    opts = RobustnessOptions(str(tiny_run.config), str(tiny_run.work_dir / "latest.pth"),
                             corruptions=["gaussian_noise"], severities=[0, 1], device="cpu")
    with pytest.raises(ConfigError, match="imagecorruptions"):
        run_test_robustness(opts)


@needs_corruptions
def test_a_stopped_benchmark_continues_where_it_stopped(tiny_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "robust.pkl"
    argv = ["test-robustness", str(tiny_run.config), str(tiny_run.work_dir / "latest.pth"), "--corruptions",
            "gaussian_noise", "snow", "--severities", "0", "2", "--out", str(out), "--device", "cpu"]
    real_test = detcli.apis.single_gpu_test
    calls = []

    def stop_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_test(*args, **kwargs)

    monkeypatch.setattr(detcli.apis, "single_gpu_test", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_test_robustness(RobustnessOptions(str(tiny_run.config), str(tiny_run.work_dir / "latest.pth"),
                                              corruptions=["gaussian_noise", "snow"], severities=[0, 2],
                                              out=str(out), device="cpu"))
    saved = load_results_file(out)
    assert sorted(saved["gaussian_noise"]) == [0, 2] and "snow" not in saved  # two runs kept, the third lost
    first = saved["gaussian_noise"][2]["bbox"]

    counted = []
    monkeypatch.setattr(detcli.apis, "single_gpu_test", lambda *a, **k: counted.append(1) or real_test(*a, **k))
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert len(counted) == 1  # only snow at severity 2 ran
    assert "continuing" in printed and "2 of 3 runs already done" in printed
    final = load_results_file(out)
    assert list(final) == ["gaussian_noise", "snow"]
    assert list(final["snow"]) == [0, 2] and final["snow"][0] == final["gaussian_noise"][0]
    assert final["gaussian_noise"][2]["bbox"] == first
    assert set(final["snow"][2]["bbox"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100",
                                             "ARs", "ARm", "ARl"}
    assert "Mean Performance under Corruption [mPC] (bbox)" in printed
    assert "gaussian noise" in printed and "mPC (2 corruptions)" in printed


REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "configs/shapes/mask_rcnn_r18_fpn_shapes.py"
DEMO_CHECKPOINT = REPO / "work_dirs/mask_rcnn_r18_fpn_shapes/latest.pth"


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory) -> tuple[Path, Path]:
    """(folder holding data/shapes, checkpoint): those of `make demo` when it has run here, else the
    demo config trained for 3 of its 4 epochs on freshly generated shapes (about 10 minutes)."""
    if DEMO_CHECKPOINT.exists() and (REPO / "data/shapes/val").is_dir():
        return REPO, DEMO_CHECKPOINT
    root = tmp_path_factory.mktemp("demo")
    assert main(["make-data", "shapes", str(root / "data/shapes"), "--num-train", "1200"]) == 0
    previous = os.getcwd()
    os.chdir(root)  # the demo config's data paths are relative
    try:
        assert main(["train", str(DEMO_CONFIG), "--work-dir", str(root / "work"), "--seed", "0", "--no-validate",
                     "--cfg-options", "runner.max_epochs=3", "lr_config.step=[2]"]) == 0
    finally:
        os.chdir(previous)
    return root, root / "work" / "latest.pth"


@pytest.mark.slow
@needs_corruptions
def test_gaussian_noise_lowers_the_demo_models_ap(demo_model, tmp_path, monkeypatch):
    root, checkpoint = demo_model
    monkeypatch.chdir(root)  # the demo config's data paths are relative to it
    results = run_test_robustness(RobustnessOptions(
        str(DEMO_CONFIG), str(checkpoint), corruptions=["gaussian_noise"], severities=[0, 3],
        eval=["bbox", "segm"], out=str(tmp_path / "robust.pkl")))
    noise = results["gaussian_noise"]
    for task in ("bbox", "segm"):
        assert noise[0][task]["AP"] > 0.3  # the demo model is a working detector
        assert noise[3][task]["AP"] < noise[0][task]["AP"] - 0.05
