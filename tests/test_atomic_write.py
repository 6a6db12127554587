"""Atomic writes: the target holds the old content or the whole new one, never a part, and no
temp file is left behind; the temp files' names say which process writes them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from detcli.atomic_write import (
    atomic_open,
    atomic_path,
    dump_json_atomic,
    temp_file_writer,
    write_bytes_atomic,
    write_text_atomic,
)


def test_a_write_creates_the_folder_and_leaves_only_the_target(tmp_path):
    target = tmp_path / "deep" / "er" / "out.json"
    dump_json_atomic({"a": [1, 2]}, target, indent=1)
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert target.read_text() == '{\n "a": [\n  1,\n  2\n ]\n}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_text_and_bytes_replace_the_previous_content(tmp_path):
    target = tmp_path / "page.html"
    target.write_text("old")
    write_text_atomic("ünïcode", target)
    assert target.read_text(encoding="utf-8") == "ünïcode"
    write_bytes_atomic(b"\x00\x01", target)
    assert target.read_bytes() == b"\x00\x01"


def test_an_error_mid_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "results.pkl"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_open(target, "wb") as fh:
        fh.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["results.pkl"]


def test_the_file_gets_the_usual_mode_not_a_private_one(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text_atomic("shared", tmp_path / "report.html")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644


def test_a_temp_path_keeps_the_extension_and_names_its_writer(tmp_path):
    target = tmp_path / "demo.mp4"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp.name.startswith(".demo.mp4.")
        assert temp_file_writer(tmp.name) == ("demo.mp4", os.getpid())
        tmp.write_bytes(b"frames")
    assert target.read_bytes() == b"frames" and not tmp.exists()
    with atomic_path(tmp_path / "clip", suffix=".avi") as tmp:
        assert tmp.suffix == ".avi"
        tmp.write_bytes(b"x")
    assert (tmp_path / "clip").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["epoch_1.pth", ".epoch_1.pth.tmp-x-0123abcd.pth", "a.pth.tmp-12-0123abcd.pth",
                                  ".epoch_1.pth.tmp-12-xyz"])
def test_other_names_are_no_temp_files(name):
    assert temp_file_writer(name) is None


def test_the_older_checkpoint_temp_name_is_recognised():
    """Killed saves of earlier versions left ``.iter_3.pth.tmp-PID``; start-up clean-up must find them."""
    assert temp_file_writer(".iter_3.pth.tmp-4242") == ("iter_3.pth", 4242)


def test_a_writer_killed_mid_write_leaves_only_a_temp_file_that_names_it(tmp_path):
    script = ("import os, sys\nfrom detcli.atomic_write import atomic_open\n"
              "with atomic_open(sys.argv[1], 'wb') as fh:\n    fh.write(b'half')\n    fh.flush()\n"
              "    print(os.getpid())\n    os._exit(0)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "iter_4.pth")], capture_output=True,
                          text=True, check=True)
    (left,) = tmp_path.iterdir()
    assert temp_file_writer(left.name) == ("iter_4.pth", int(done.stdout))
    assert left.read_bytes() == b"half"


def test_only_whole_file_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"), atomic_open(tmp_path / "x", "a"):
        pass
