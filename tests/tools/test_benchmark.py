"""``det benchmark CONFIG CHECKPOINT``: images/s of a tiny detector, warm-up left out, mmdetection's lines."""

from __future__ import annotations

import json
import re

import pytest

from detcli.cli import main
from detcli.errors import ConfigError
from detcli.tools import benchmark as bench


def test_times_max_iter_minus_warmup_images_cycling_a_small_test_set(tiny_run, monkeypatch):
    from detcli.tools import test_runner

    calls = []
    real_build = test_runner.build_model

    def counting_build(*args, **kwargs):
        model = real_build(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, inputs, kwargs: calls.append(kwargs["img_metas"]),
                                        with_kwargs=True)
        return model

    monkeypatch.setattr(test_runner, "build_model", counting_build)
    lines = []
    result = bench.run_benchmark(str(tiny_run.config), str(tiny_run.work_dir / "latest.pth"), max_iter=9,
                                 log_interval=4, num_warmup=3, device="cpu", report=lines.append)
    assert len(calls) == 9 and result.dataset_size == 2  # the 2 test images, run again and again
    names = [metas[0][0]["ori_filename"] for metas in calls]
    assert len(set(names)) == 2 and names == [names[i % 2] for i in range(9)]  # in order, pass after pass
    (run,) = result.runs
    assert run.timed_images == 9 - 3 and run.seconds > 0 and run.fps == pytest.approx(6 / run.seconds)
    assert [n for n, _ in run.checkpoints] == [4, 8]
    assert re.fullmatch(r"Done image \[4  / 9\], fps: [0-9.]+ img / s, times per image: [0-9.]+ ms / img", lines[0])
    assert lines[1].startswith("Done image [8  / 9]")
    assert lines[2] == f"Overall fps: {run.fps:.1f} img / s, times per image: {1000 / run.fps:.1f} ms / img"
    assert len(lines) == 3


def test_cli_json_fuse_conv_bn_and_repeats(tiny_run, capsys):
    assert main(["benchmark", str(tiny_run.config), str(tiny_run.work_dir / "latest.pth"), "--max-iter", "7",
                 "--num-warmup", "2", "--log-interval", "50", "--fuse-conv-bn", "--repeat-num", "2",
                 "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fuse_conv_bn"] is True and result["device"] == "cpu" and len(result["runs"]) == 2
    assert all(r["timed_images"] == 5 and r["fps"] > 0 for r in result["runs"])
    assert result["fps"] == pytest.approx(sum(r["fps"] for r in result["runs"]) / 2)


def test_text_output_ends_with_overall_fps(tiny_run, capsys):
    assert main(["benchmark", str(tiny_run.config), str(tiny_run.work_dir / "latest.pth"), "--max-iter", "6",
                 "--log-interval", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Done image [6  / 6], fps: ")  # image 3 is still warm-up
    assert float(re.match(r"Overall fps: ([0-9.]+) img / s", out[-1]).group(1)) > 0


def test_max_iter_must_exceed_the_warmup(tiny_run):
    with pytest.raises(ConfigError, match=r"--max-iter \(5\) must be larger than --num-warmup \(5\)"):
        bench.run_benchmark(str(tiny_run.config), "unused.pth", max_iter=5, num_warmup=5)
