"""``det webcam``: without a display or a camera it stops with one clear line, never a traceback."""

from __future__ import annotations

from detcli.cli import main


def _no_display(monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)


def test_no_display(tmp_path, monkeypatch, capsys):
    _no_display(monkeypatch)
    assert main(["webcam", str(tmp_path / "cfg.py"), str(tmp_path / "ckpt.pth"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: cannot open a window for the webcam: no display")
    assert "Traceback" not in "\n".join(err) and len(err) == 2  # the error and its hint


def test_no_camera(tmp_path, monkeypatch, capfd):
    _no_display(monkeypatch)
    monkeypatch.setenv("DISPLAY", ":99")  # a display is claimed; the camera check comes first
    # and OpenCV is taken to have windows: the dev extra's albumentations may install the headless build
    monkeypatch.setattr("detcli.visualization.display._opencv_has_gui", lambda: True)
    assert main(["webcam", str(tmp_path / "cfg.py"), str(tmp_path / "ckpt.pth"), "--camera-id", "57",
                 "--device", "cpu"]) == 1
    err = capfd.readouterr().err.strip().splitlines()  # file-descriptor level: OpenCV writes there
    # OpenCV's own backend warnings are silenced: only our error and hint
    assert err == ["error: cannot open camera 57", "hint: check --camera-id and that a camera is connected"]
