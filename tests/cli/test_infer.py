"""``det infer`` on an image, a folder, a glob and a video, with a toy detector built from a config.

The toy detector reports one box per image at a fixed place relative to the image
size, with a score that depends on the width, so every output can be checked exactly.
"""

from __future__ import annotations

import json
import textwrap

import cv2
import numpy as np
import pytest
import torch

from detcli.cli import main

TOY_MODULE = '''
import numpy as np
import torch
from torch import nn
from detcli.models.detectors.base import BaseDetector
from detcli.registry import DETECTORS


@DETECTORS.register_module(force=True)
class InferToyDetector(BaseDetector):
    def __init__(self, num_classes=3, with_mask=False, train_cfg=None, test_cfg=None, init_cfg=None):
        super().__init__(init_cfg)
        self.num_classes, self.masks = num_classes, with_mask
        self.weight = nn.Parameter(torch.ones(1))

    def simple_test(self, img, img_metas, rescale=True, **kwargs):
        results = []
        for meta in img_metas:
            h, w = meta["ori_shape"][:2]
            box = np.array([[0.1 * w, 0.2 * h, 0.6 * w, 0.7 * h, 0.3 + (w % 7) / 10]], np.float32)
            bbox = [box if c == 1 else np.zeros((0, 5), np.float32) for c in range(self.num_classes)]
            if self.masks:
                m = np.zeros((h, w), bool)
                m[int(0.2 * h):int(0.7 * h), int(0.1 * w):int(0.6 * w)] = True
                results.append((bbox, [[m] if c == 1 else [] for c in range(self.num_classes)]))
            else:
                results.append(bbox)
        return results
'''

CONFIG = '''
custom_imports = dict(imports=['infer_toy_module'], allow_failed_imports=False)
model = dict(type='InferToyDetector', num_classes=3, with_mask={with_mask})
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
data = dict(test=dict(type='CocoDataset', ann_file='unused.json', pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True),
        dict(type='RandomFlip'),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=32),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img']),
    ]),
]))
'''
CLASSES = ["ant", "bee", "cat"]


def expected_box(h, w):
    return [0.1 * w, 0.2 * h, 0.6 * w, 0.7 * h], 0.3 + (w % 7) / 10


@pytest.fixture
def toy(tmp_path, monkeypatch):
    (tmp_path / "infer_toy_module.py").write_text(textwrap.dedent(TOY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    for with_mask in (False, True):
        (tmp_path / f"toy{'_mask' if with_mask else ''}.py").write_text(CONFIG.format(with_mask=with_mask))
    torch.save({"meta": {"CLASSES": CLASSES}, "state_dict": {"weight": torch.ones(1)}}, tmp_path / "toy.pth")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.RandomState(0)
    for name, (h, w) in {"a.png": (40, 60), "b.jpg": (50, 45), "c.png": (33, 71)}.items():
        cv2.imwrite(str(images / name), rng.randint(0, 255, (h, w, 3)).astype(np.uint8))
    (images / "notes.txt").write_text("not an image")
    return tmp_path


def _run(*args):
    return main(["infer", *map(str, args), "--device", "cpu"])


def test_one_image_writes_drawing_and_json(toy):
    out = toy / "out"
    assert _run(toy / "images" / "a.png", toy / "toy.py", toy / "toy.pth", "--out-dir", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png"]
    record = json.loads((out / "a.json").read_text())
    assert record["image"].endswith("a.png") and (record["height"], record["width"]) == (40, 60)
    (det,) = record["detections"]
    box, score = expected_box(40, 60)
    assert det["label"] == 1 and det["class"] == "bee"
    assert det["bbox"] == pytest.approx(box, abs=0.01) and det["score"] == pytest.approx(score, abs=1e-5)
    drawn = cv2.imread(str(out / "a.png"))
    original = cv2.imread(str(toy / "images" / "a.png"))
    assert drawn.shape == original.shape and not np.array_equal(drawn, original)


def test_folder_and_glob(toy):
    out = toy / "out"
    assert _run(toy / "images", toy / "toy.py", toy / "toy.pth", "--out-dir", out, "--batch-size", "2") == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "b.jpg", "b.json", "c.json", "c.png"]
    for stem, (h, w) in {"a": (40, 60), "b": (50, 45), "c": (33, 71)}.items():
        det = json.loads((out / f"{stem}.json").read_text())["detections"][0]
        assert det["bbox"] == pytest.approx(expected_box(h, w)[0], abs=0.01)
    out2 = toy / "out2"
    assert _run(f"{toy}/images/*.png", toy / "toy.py", toy / "toy.pth", "--out-dir", out2) == 0
    assert sorted(p.name for p in out2.iterdir()) == ["a.json", "a.png", "c.json", "c.png"]


def test_without_out_dir_prints_json_lines_and_score_thr_filters(toy, capsys):
    assert _run(toy / "images", toy / "toy.py", toy / "toy.pth", "--score-thr", "0.5") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [rec["image"].rsplit("/", 1)[1] for rec in lines] == ["a.png", "b.jpg", "c.png"]
    # scores: a (w=60) 0.7, b (w=45) 0.6, c (w=71) 0.4 -> c is below 0.5
    assert [len(rec["detections"]) for rec in lines] == [1, 1, 0]


def test_masks_and_async_api_give_the_same_json(toy, capsys):
    args = [toy / "images" / "a.png", toy / "toy_mask.py", toy / "toy.pth"]
    assert _run(*args) == 0
    sync = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert _run(*args, "--async-test") == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == sync
    mask = sync["detections"][0]["mask"]
    from pycocotools import mask as mask_util

    decoded = mask_util.decode({"size": mask["size"], "counts": mask["counts"].encode()})
    assert decoded.shape == (40, 60) and decoded.sum() == (28 - 8) * (36 - 6)


def _write_video(path, frames=8, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()


def test_video_in_annotated_video_out(toy, capsys):
    _write_video(toy / "clip.mp4")
    out = toy / "vout"
    assert _run(toy / "clip.mp4", toy / "toy.py", toy / "toy.pth", "--out-dir", out) == 0
    assert [p.name for p in out.iterdir()] == ["clip.mp4"]
    from detcli.apis import VideoReader

    reader = VideoReader(out / "clip.mp4")
    assert (reader.width, reader.height) == (64, 48) and len(list(reader)) == 8
    assert "8 frames at" in capsys.readouterr().out


def test_user_errors_are_one_line(toy, capsys, monkeypatch):
    _write_video(toy / "clip.mp4", frames=2)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    cases = [
        ([toy / "images" / "a.png", toy / "toy.py", toy / "toy.pth", "--show"], "no display"),
        ([toy / "missing.png", toy / "toy.py", toy / "toy.pth"], "input not found"),
        ([toy / "clip.mp4", toy / "toy.py", toy / "toy.pth"], "--out-dir"),
    ]
    for args, needle in cases:
        capsys.readouterr()
        assert _run(*args) == 1
        err = capsys.readouterr().err
        assert needle in err.splitlines()[0] and "Traceback" not in err
    capsys.readouterr()
    assert main(["infer", str(toy / "images" / "a.png"), str(toy / "toy.py"), str(toy / "toy.pth"),
                 "--device", "cuda:0"]) == (1 if not torch.cuda.is_available() else 0)
    if not torch.cuda.is_available():
        err = capsys.readouterr().err
        assert "CUDA is not available" in err and "--device cpu" in err


def test_the_video_demos_out_spelling_writes_the_annotated_video(toy, capsys):
    """mmdetection's ``demo/video_demo.py VIDEO CONFIG CKPT --out result.mp4`` as a det infer command."""
    _write_video(toy / "clip.mp4", frames=4)
    target = toy / "result.mp4"
    assert _run(toy / "clip.mp4", toy / "toy.py", toy / "toy.pth", "--out", target) == 0
    from detcli.apis import VideoReader

    frames = list(VideoReader(target))
    assert len(frames) == 4 and frames[0].shape == (48, 64, 3)
    assert not np.array_equal(frames[0], np.zeros_like(frames[0]))  # boxes drawn on the black first frame
    capsys.readouterr()
    assert _run(toy / "images" / "a.png", toy / "toy.py", toy / "toy.pth", "--out", toy / "a_out.png") == 1
    err = capsys.readouterr().err.splitlines()
    assert "is not a video" in err[0] and "--out-file" in err[1]
    assert _run(toy / "clip.mp4", toy / "toy.py", toy / "toy.pth", "--out", target, "--out-file", target) == 1
    assert "the same option" in capsys.readouterr().err


def test_cfg_options_change_the_model(toy, capsys):
    args = [toy / "images" / "a.png", toy / "toy.py", toy / "toy.pth"]
    assert _run(*args, "--cfg-options", "model.num_classes=1", "model.with_mask=True") == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["detections"] == []  # one class: the toy's class-1 box has nowhere to go
    assert _run(*args, "--score-thr", "0.0", "--cfg-options", "model.with_mask=True") == 0
    (det,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["detections"]
    assert "mask" in det  # the mask head switched on from the command line
