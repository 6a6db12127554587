"""`det print-config` and the reusable multi-value option parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detcli.cli import main
from detcli.cli.options import expand_multi_value_flags

REPO = Path(__file__).resolve().parents[2]
MASK_RCNN = str(REPO / "configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def exec_text(text: str) -> dict:
    namespace: dict = {}
    exec(text, namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def test_prints_the_merged_config_with_overrides_as_python(capsys):
    code, out, _ = run(capsys, "print-config", MASK_RCNN, "--cfg-options", "model.backbone.depth=101")
    assert code == 0
    printed = exec_text(out)
    assert printed["model"]["backbone"]["depth"] == 101
    assert printed["model"]["type"] == "MaskRCNN"  # from the model base
    assert printed["optimizer"]["lr"] == 0.02  # from the schedule base
    assert printed["data"]["train"]["pipeline"][2]["img_scale"] == (1333, 800)  # tuples stay tuples


def test_json_output_is_one_object_with_tuples_as_lists(capsys):
    code, out, _ = run(
        capsys,
        "print-config",
        MASK_RCNN,
        "--json",
        "--cfg-options",
        "model.backbone.depth=101",
        "data.samples_per_gpu=4",
        "data.train.pipeline.2.img_scale=(640,480)",
    )
    assert code == 0
    data = json.loads(out)
    assert data["model"]["backbone"]["depth"] == 101
    assert data["data"]["samples_per_gpu"] == 4
    assert data["data"]["train"]["pipeline"][2]["img_scale"] == [640, 480]
    assert data["model"]["backbone"]["out_indices"] == [0, 1, 2, 3]


def test_options_flag_repeated_and_deprecated_spelling(capsys):
    code, out, _ = run(
        capsys, "print-config", MASK_RCNN, "--json", "--cfg-options", "a=1", "--cfg-options", "b=x,y"
    )
    assert code == 0 and json.loads(out)["a"] == 1 and json.loads(out)["b"] == ["x", "y"]
    code, out, err = run(capsys, "print-config", MASK_RCNN, "--json", "--options", "a=2")
    assert code == 0 and json.loads(out)["a"] == 2 and "deprecated" in err
    code, out, err = run(capsys, "print-config", MASK_RCNN, "--options", "a=2", "--cfg-options", "a=3")
    assert code == 1 and out == "" and "cannot both be given" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["configs/nope.py"], "config file not found"),
        ([MASK_RCNN, "--cfg-options", "foo"], "bad override 'foo'"),
        ([MASK_RCNN, "--cfg-options", "data.train.pipeline.9.x=1"], "index 9 is out of range"),
    ],
)
def test_errors_are_one_red_line_with_a_hint_and_exit_1(capsys, args, message):
    code, out, err = run(capsys, "print-config", *args)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert "Traceback" not in err


def test_debug_shows_the_traceback(capsys):
    code, _, err = run(capsys, "--debug", "print-config", "configs/nope.py")
    assert code == 1 and "Traceback" in err and "ConfigError" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--x", "a", "b", "--y", "c"], ["--x", "a", "--x", "b", "--y", "c"]),
        (["--x", "a"], ["--x", "a"]),
        (["--x"], ["--x"]),
        (["--x", "a=-1", "-5", "--", "--x", "b", "c"], ["--x", "a=-1", "--x", "-5", "--", "--x", "b", "c"]),
        (["cfg.py", "--x", "a", "-q"], ["cfg.py", "--x", "a", "-q"]),
        (["--x=a", "b"], ["--x=a", "b"]),
    ],
)
def test_expand_multi_value_flags(argv, expected):
    assert expand_multi_value_flags(argv, ["--x"]) == expected
