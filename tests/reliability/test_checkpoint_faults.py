"""Checkpoint faults: a full disk during a save, temp files of killed saves, a truncated latest.pth
under --auto-resume, and files that are not checkpoints at all. After each, the previous
checkpoint still loads."""

from __future__ import annotations

import errno
import os
import pickle

import pytest
import torch
from error_lines import clean_error

from detcli.cli import main
from detcli.engine.checkpoint import load_checkpoint_file
from detcli.engine.checkpoint_files import find_resumable_checkpoint, remove_stale_temp_files
from detcli.errors import CheckpointError

from .conftest import write_config


def _loads(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _run(cfg, work, *extra) -> int:
    return main(["train", str(cfg), "--work-dir", str(work), "--no-validate", "--seed", "0", *extra])


def test_disk_full_while_saving_names_the_file_and_keeps_the_previous_checkpoint(shapes, tmp_path, capsys,
                                                                                 monkeypatch):
    cfg = write_config(tmp_path / "cfg.py", shapes)
    work = tmp_path / "w"
    real_save = torch.save
    calls = []

    def save_until_the_disk_is_full(obj, f, *args, **kwargs):
        calls.append(getattr(f, "name", f))
        if len(calls) == 2:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(work), "--no-validate", "--seed", "0",
                                "--cfg-options", "runner.max_epochs=2"])
    assert line == (f"error: no space left on device while writing {work}/epoch_2.pth; "
                    "the previous checkpoint latest.pth -> epoch_1.pth is intact")
    assert sorted(p.name for p in work.iterdir() if ".pth" in p.name) == ["epoch_1.pth", "latest.pth"]
    assert _loads(work / "latest.pth")["meta"]["epoch"] == 1


def _log_text(work) -> str:
    return "".join(p.read_text() for p in sorted(work.glob("*.log")))


def test_stale_temp_files_of_killed_saves_are_removed_on_start(shapes, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = [work / f".iter_{n}.pth.tmp-{dead}-0123abcd.pth" for n in (3, 6)]
    for path in stale:
        path.write_bytes(b"x" * 1000)
    alive = work / f".iter_9.pth.tmp-{os.getppid()}-0123abcd.pth"  # a running process' save in progress stays
    alive.write_bytes(b"x")
    unrelated = work / "notes.pth.tmp-1"
    unrelated.write_text("mine")
    other_output = work / f".log.json.tmp-{dead}-0123abcd.json"  # not a checkpoint's
    other_output.write_text("{}")
    cfg = write_config(tmp_path / "cfg.py", shapes)
    assert _run(cfg, work) == 0
    assert not any(p.exists() for p in stale) and alive.exists() and unrelated.exists() and other_output.exists()
    assert f"removed 2 temp file(s) of interrupted checkpoint saves from {work}" in _log_text(work)
    assert remove_stale_temp_files(str(work)) == []


@pytest.fixture
def two_epochs(shapes, tmp_path):
    cfg = write_config(tmp_path / "cfg.py", shapes)
    work = tmp_path / "w"
    assert _run(cfg, work, "--cfg-options", "runner.max_epochs=2") == 0
    return cfg, work


def test_auto_resume_falls_back_to_the_newest_checkpoint_that_loads(two_epochs):
    cfg, work = two_epochs
    size = (work / "epoch_2.pth").stat().st_size
    os.truncate(work / "epoch_2.pth", size // 2)  # latest.pth -> epoch_2.pth, cut mid-write
    assert _run(cfg, work, "--auto-resume", "--cfg-options", "runner.max_epochs=3") == 0
    text = _log_text(work)
    assert (f"auto-resume: latest.pth -> epoch_2.pth cannot be read (a truncated or damaged checkpoint "
            f"({size // 2} bytes)); continuing from {work}/epoch_1.pth") in text
    assert f"resumed from {work}/epoch_1.pth: epoch 1" in text
    assert _loads(work / "latest.pth")["meta"]["epoch"] == 3


def test_auto_resume_with_no_readable_checkpoint_is_one_line(two_epochs, capsys):
    cfg, work = two_epochs
    for name in ("epoch_1.pth", "epoch_2.pth"):
        (work / name).write_bytes(b"")
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(work), "--auto-resume"])
    assert f"--auto-resume: no checkpoint in {work} can be read: latest.pth -> epoch_2.pth (not a checkpoint " \
           "(0 bytes)), epoch_1.pth (not a checkpoint (0 bytes))" in line


def test_find_resumable_checkpoint_prefers_latest_then_newest(two_epochs):
    _, work = two_epochs
    assert find_resumable_checkpoint(str(work)) == str(work / "latest.pth")
    (work / "latest.pth").unlink()
    assert find_resumable_checkpoint(str(work)) == str(work / "epoch_2.pth")
    assert find_resumable_checkpoint(str(work / "nowhere")) is None


class Opaque:
    """Not a tensor: a weights-only load refuses it."""


@pytest.mark.parametrize("content, needle", [
    (b"", "is not a checkpoint (0 bytes)"),
    (os.urandom(4096).replace(b"\x80", b"\x00").replace(b"PK", b"pk"), "is not a checkpoint (4096 bytes)"),
    (b"<html>404 not found</html>", "is not a checkpoint (26 bytes)"),
])
def test_files_that_are_not_checkpoints_say_so(content, needle, trained, tmp_path, capsys):
    cfg, _ = trained
    bad = tmp_path / "bad.pth"
    bad.write_bytes(content)
    line = clean_error(capsys, ["test", str(cfg), str(bad), "--eval", "bbox"])
    assert f"{bad} {needle}" in line
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w"), "--resume-from", str(bad)])
    assert f"{bad} {needle}" in line


def test_truncated_checkpoint_and_real_pickles_keep_their_own_messages(trained, tmp_path):
    _, ckpt = trained
    cut = tmp_path / "cut.pth"
    cut.write_bytes(ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"cut.pth is a truncated or damaged checkpoint \(5000 bytes\)"):
        load_checkpoint_file(str(cut))
    for name, save in (("zip.pth", lambda o, p: torch.save(o, p)),
                       ("legacy.pth", lambda o, p: p.write_bytes(pickle.dumps(o, protocol=2)))):
        path = tmp_path / name
        save({"state_dict": {}, "meta": {"thing": Opaque()}}, path)
        with pytest.raises(CheckpointError, match="holds pickled objects that a weights-only load refuses"):
            load_checkpoint_file(str(path))
