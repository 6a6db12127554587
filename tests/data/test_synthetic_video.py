"""`det make-data video`: the moving-shapes video the demo runs `det infer` on."""

from __future__ import annotations

import contextlib
import io

import cv2
import numpy as np
import pytest

from detcli.cli import main
from detcli.data.synthetic import SHAPE_CLASSES, generate_shapes_video, shapes_video_frames
from detcli.data.synthetic.shapes import _fill


def _frames(**kw):
    return list(shapes_video_frames(**kw))


def test_frames_are_deterministic_and_move():
    a = _frames(num_frames=6, size=96, seed=3, num_objects=3)
    b = _frames(num_frames=6, size=96, seed=3, num_objects=3)
    c = _frames(num_frames=6, size=96, seed=4, num_objects=3)
    assert all(np.array_equal(fa, fb) for (fa, _), (fb, _) in zip(a, b))
    assert not np.array_equal(a[0][0], c[0][0])
    assert a[0][0].shape == (96, 96, 3) and a[0][0].dtype == np.uint8
    for _frame, objects in a:
        assert len(objects) == 3 and all(0 <= label < len(SHAPE_CLASSES) for label, _ in objects)
        for _, outline in objects:  # every shape stays wholly inside the frame
            assert outline.min() >= -1e-6 and outline.max() <= 96 + 1e-6
    first = np.array([o.mean(0) for _, o in a[0][1]])
    last = np.array([o.mean(0) for _, o in a[-1][1]])
    assert (np.linalg.norm(first - last, axis=1) > 2).all()  # 5 frames at >= 1.1 px/frame


def test_the_top_shape_is_painted_in_one_colour():
    frame, objects = _frames(num_frames=1, size=128, seed=0, num_objects=2)[0]
    _, top = objects[-1]
    inside = _fill((128, 128), [top]).astype(bool)
    eroded = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    pixels = frame[eroded].astype(float)
    assert eroded.sum() > 50 and pixels.std(0).max() < 4.0  # flat fill + small grain (uniform +-4.35)


def test_cli_writes_a_readable_video(tmp_path):
    out = tmp_path / "v" / "moving.mp4"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["make-data", "video", str(out), "--frames", "5", "--size", "64", "--fps", "4", "--seed", "1"])
    assert code == 0 and "5 frames" in stdout.getvalue()
    cap = cv2.VideoCapture(str(out))
    decoded = []
    while (got := cap.read())[0]:
        decoded.append(got[1])
    cap.release()
    assert len(decoded) == 5 and decoded[0].shape == (64, 64, 3)
    assert cap is not None and [p.name for p in out.parent.iterdir()] == ["moving.mp4"]  # no temp file left
    expected = _frames(num_frames=5, size=64, seed=1)
    for got, (want, _) in zip(decoded, expected):  # lossy codec: close, not equal
        assert np.abs(got.astype(float) - want).mean() < 12


def test_bad_arguments_fail_cleanly(tmp_path):
    with pytest.raises(ValueError, match="num_frames"):
        generate_shapes_video(tmp_path / "x.mp4", num_frames=0)
    with pytest.raises(ValueError, match="size"):
        generate_shapes_video(tmp_path / "x.mp4", size=16)
    assert not list(tmp_path.iterdir())
