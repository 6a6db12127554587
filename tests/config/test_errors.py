"""Every config mistake a user can make is one ConfigError line naming the file/key, with a hint."""

from __future__ import annotations

import pytest

from detcli.config import Config
from detcli.errors import ConfigError


def load_error(path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    assert "\n" not in str(info.value)
    return info.value


def test_missing_config_file(tmp_path):
    err = load_error(tmp_path / "nope.py")
    assert "not found" in str(err) and "nope.py" in str(err) and err.hint


def test_missing_base_names_the_base_and_the_referencing_file(write):
    child = write("configs/child.py", "_base_ = ['../_base_/missing.py']\n")
    err = load_error(child)
    assert "_base_/missing.py" in str(err) and str(child) in str(err)
    assert "relative" in err.hint


def test_cycle_among_bases_names_the_chain(write):
    write("a.py", "_base_ = 'b.py'\n")
    write("b.py", "_base_ = 'c.py'\n")
    write("c.py", "_base_ = 'a.py'\n")
    err = load_error(write("top.py", "_base_ = 'a.py'\n"))
    message = str(err)
    assert "cycle" in message
    assert message.index("a.py") < message.index("b.py") < message.index("c.py")
    assert "top.py" not in message


def test_syntax_error_names_file_and_line(write):
    path = write("bad.py", "a = 1\nb = = 2\nc = 3\n")
    err = load_error(path)
    assert f"{path}:2" in str(err) and "syntax error" in str(err)
    assert "b = = 2" in err.hint


def test_runtime_error_in_config_names_file_and_line(write):
    path = write("run.py", "a = 1\nb = undefined_name + 1\n")
    err = load_error(path)
    assert f"{path}:2" in str(err) and "NameError" in str(err)


def test_unknown_extension(write):
    err = load_error(write("cfg.txt", "a = 1\n"))
    assert "'.txt'" in str(err) and ".py" in err.hint


def test_duplicate_keys_among_bases_name_key_and_both_files(write):
    first = write("b1.py", "model = dict(a=1)\nlr = 1\n")
    second = write("b2.py", "data = 2\nlr = 2\n")
    err = load_error(write("c.py", "_base_ = ['b1.py', 'b2.py']\n"))
    message = str(err)
    assert "'lr'" in message and str(first) in message and str(second) in message


def test_bad_yaml_and_non_mapping_files(write):
    assert "cannot parse" in str(load_error(write("bad.yaml", "a: [1, 2\n")))
    assert "mapping" in str(load_error(write("list.yaml", "- 1\n- 2\n")))


def test_base_reference_to_a_missing_key(write):
    write("b.py", "model = dict(a=1)\n")
    err = load_error(write("c.py", "_base_ = 'b.py'\nx = {{ _base_.model.b }}\n"))
    assert "_base_.model.b" in str(err) and "has no 'b'" in str(err)


def test_base_reference_without_bases(write):
    err = load_error(write("c.py", "x = {{ _base_.model }}\n"))
    assert "no _base_" in str(err)
