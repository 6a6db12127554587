"""``det pytorch2onnx CONFIG CHECKPOINT``: mmdetection's flags, the file written, one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from detcli.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from onnx_tiny import build_tiny, cfg_option_args, save_checkpoint, scene  # noqa: E402


@pytest.fixture(scope="module")
def tiny_retinanet(tmp_path_factory):
    config, options, model = build_tiny("retinanet")
    return config, save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "retina.pth"), options


def test_export_and_verify_with_mmdetection_flags(tiny_retinanet, tmp_path, capsys):
    config, checkpoint, options = tiny_retinanet
    out = tmp_path / "out" / "retina.onnx"
    test_img = tmp_path / "scene.png"
    cv2.imwrite(str(test_img), scene())
    code = main(["pytorch2onnx", config, str(checkpoint), "--output-file", str(out), "--shape", "96", "128",
                 "--verify", "--test-img", str(test_img), "--mean", "123.675", "116.28", "103.53",
                 "--dataset", "coco", "--cfg-options", *cfg_option_args(options)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "ONNX Runtime matches PyTorch" in captured.out
    assert "verify (input image 96x128):" in captured.out and "verify (test image 96x128):" in captured.out
    assert "note: --mean, --std and --dataset are ignored" in captured.err
    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output] == ["dets", "labels"]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 96, 128]
    assert [p.name for p in out.parent.iterdir()] == ["retina.onnx"]  # no temporary file left
    dets, labels = ort.InferenceSession(str(out)).run(None, {"input": np.zeros((1, 3, 96, 128), np.float32)})
    assert dets.shape[0] == labels.shape[0] == 1 and dets.shape[2] == 5


def test_too_low_opset_is_one_line_without_traceback(tmp_path, capsys):
    config, options, model = build_tiny("faster_rcnn")
    checkpoint = save_checkpoint(model, tmp_path / "faster.pth")
    code = main(["pytorch2onnx", config, str(checkpoint), "--output-file", str(tmp_path / "f.onnx"),
                 "--shape", "64", "--opset-version", "11", "--cfg-options", *cfg_option_args(options)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[0] == ("error: opset 11 is too low for this model: roi_head.bbox_roi_extractor.roi_layers.0 "
                                   "(RoIAlign, aligned=True) needs opset >= 16")
    assert "Traceback" not in err and not (tmp_path / "f.onnx").exists()


def test_shape_that_the_pipeline_would_pad_is_refused(tiny_retinanet, tmp_path, capsys):
    config, checkpoint, options = tiny_retinanet
    code = main(["pytorch2onnx", config, str(checkpoint), "--output-file", str(tmp_path / "r.onnx"),
                 "--shape", "100", "128", "--cfg-options", *cfg_option_args(options)])
    err = capsys.readouterr().err
    assert code == 1 and "--shape 100 128 is not a multiple of 32" in err and "--shape 128 128" in err


def test_show_prints_the_exported_graph(tiny_retinanet, tmp_path, capsys):
    config, checkpoint, options = tiny_retinanet
    code = main(["pytorch2onnx", config, str(checkpoint), "--output-file", str(tmp_path / "r.onnx"), "--shape", "64",
                 "--show", "--cfg-options", *cfg_option_args(options)])
    out = capsys.readouterr().out
    assert code == 0 and "NonMaxSuppression" in out and "%input" in out


def test_listed_in_help(capsys):
    assert main(["--help"]) == 0
    assert "pytorch2onnx" in capsys.readouterr().out
