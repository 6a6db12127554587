"""Fuzzing the config loader and the ``--cfg-options`` parser: whatever the input, the outcome is a
loaded config or a ``DetError`` (one line for the user), never an internal exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detcli.cli import main
from detcli.config import Config, parse_cfg_options
from detcli.errors import DetError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

keys = st.sampled_from(["model", "data", "type", "depth", "_delete_", "_base_", "lr", "pipeline", "0", "a b",
                        "train", "img_scale", "x"]) | st.text("abcdefgh_", min_size=1, max_size=6)
scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
           | st.text(max_size=12) | st.sampled_from(["{{ _base_.model }}", "{{ fileDirname }}", "{{ _base_.nope }}"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
configs = st.dictionaries(keys.filter(lambda k: k.isidentifier()), values, max_size=5)
noise = st.text(alphabet="()[]{},=:'\"_. \n#abc01-*", max_size=6)


def _write_python(folder: Path, name: str, cfg: dict, base: str | None) -> Path:
    lines = [f"_base_ = {base!r}"] if base else []
    lines += [f"{key} = {value!r}" for key, value in cfg.items() if key != "_base_"]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _load(path: Path) -> None:
    try:
        cfg = Config.fromfile(path)
    except DetError:
        return
    assert isinstance(cfg.to_dict(), dict)
    cfg.pretty_text  # noqa: B018 - printing a loaded config must work too


@FUZZ
@given(base=configs, child=configs, base_name=st.sampled_from(["base.py", "base.json", "missing.py", "base.yaml"]),
       cut=st.integers(0, 200), insert=noise)
def test_python_configs_with_bases_load_or_fail_cleanly(base, child, base_name, cut, insert):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if base_name == "base.py":
            _write_python(folder, base_name, base, None)
        elif base_name == "base.json":
            import json

            (folder / base_name).write_text(json.dumps(base, default=str))
        elif base_name == "base.yaml":
            import yaml

            (folder / base_name).write_text(yaml.safe_dump(base, default_flow_style=True) if base else "")
        path = _write_python(folder, "child.py", child, base_name)
        _load(path)
        text = path.read_text()
        path.write_text(text[:cut] + insert + text[cut:])  # mostly syntax errors, sometimes another config
        _load(path)


@FUZZ
@given(text=st.text(max_size=80), suffix=st.sampled_from([".json", ".yaml", ".yml"]))
def test_arbitrary_json_and_yaml_text_loads_or_fails_cleanly(text, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cfg{suffix}"
        path.write_text(text)
        _load(path)


option_keys = st.lists(keys | st.sampled_from(["", "0", "9", "-1"]), min_size=1, max_size=4).map(".".join)
option_values = st.text(alphabet="()[]{},='\"_. abc01-:TrueNone", max_size=14) | values.map(repr)
options = st.lists(st.tuples(option_keys, option_values).map("=".join) | st.text(max_size=10), max_size=4)

BASE = {"model": {"type": "RetinaNet", "backbone": {"depth": 50, "out_indices": (0, 1)}},
        "data": {"train": {"pipeline": [{"type": "Load"}, {"type": "Resize", "img_scale": (1333, 800)}]}},
        "lr": 0.1, "flags": [1, 2, 3]}


@FUZZ
@given(opts=options)
def test_cfg_options_parse_and_merge_or_fail_cleanly(opts):
    try:
        parsed = parse_cfg_options(opts)
        cfg = Config(BASE)
        cfg.merge_from_dict(parsed)
    except DetError:
        return
    assert isinstance(cfg.to_dict(), dict)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opts=options)
def test_print_config_with_fuzzed_options_exits_cleanly(opts, capsys):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cfg.py"
        path.write_text("\n".join(f"{k} = {v!r}" for k, v in BASE.items()) + "\n")
        capsys.readouterr()
        code = main(["print-config", str(path), "--cfg-options", *opts]) if opts else 0
        err = capsys.readouterr().err
        assert code in (0, 1, 2), err
        assert "Traceback" not in err and "run with --debug" not in err, err
