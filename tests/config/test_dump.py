"""pretty_text and dump: written configs load back to the very same dict."""

from __future__ import annotations

import json
import os

import pytest

from detcli.config import Config
from detcli.errors import ConfigError

TRICKY = dict(
    model=dict(
        type="MaskRCNN",
        backbone=dict(depth=50, out_indices=(0, 1, 2, 3), frozen=(1,), empty=(), norm_cfg=dict(type="BN")),
        scales=[(1333, 640), (1333, 800)],
        weights=[1, 0.5, 0.25, 1e-05, -0.0],
        nothing=None,
        flags=[True, False],
        long_list=list(range(40)),
    ),
    odd_keys={"with space": 1, "class": 2, 3: "int key", "ok": {"lambda": [dict(a=1)]}},
    message="quote ' and \" and \\ and\nnewline",
    inf=float("inf"),
    empty=dict(),
    workflow=[("train", 1), ("val", 1)],
)


def run_python(source: str) -> dict:
    namespace: dict = {}
    exec(source, namespace)  # the text must be valid Python on its own
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def assert_same(a, b):
    """Equal, and with the same container types all the way down (tuple is not list)."""
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_pretty_text_is_python_that_gives_the_same_dict():
    cfg = Config(TRICKY)
    text = cfg.pretty_text
    assert_same(run_python(text), cfg.to_dict())
    assert "model = dict(" in text and "'with space': 1" in text
    assert max(len(line) for line in text.splitlines()) <= 88 + 20  # long values are broken into lines


def test_pretty_text_layout_is_one_item_per_line_when_long():
    cfg = Config(dict(a=dict(b=1), data=dict(train=dict(type="CocoDataset", ann_file="x" * 80))))
    assert cfg.pretty_text == (
        "a = dict(b=1)\n"
        "data = dict(\n"
        "    train=dict(\n"
        "        type='CocoDataset',\n"
        f"        ann_file='{'x' * 80}',\n"
        "    ),\n"
        ")\n"
    )


def test_long_scalar_lists_fill_their_lines():
    """Lines stop before passing 88 characters: '    0, ... 22,' is 85, adding ' 23,' would make 89."""
    text = Config(dict(ids=list(range(30)))).pretty_text
    assert text == (
        "ids = [\n"
        "    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,\n"
        "    23, 24, 25, 26, 27, 28, 29,\n"
        "]\n"
    )
    assert run_python(text) == {"ids": list(range(30))}


@pytest.mark.parametrize("suffix", [".py", ".yaml", ".yml", ".json"])
def test_dump_and_load_back(tmp_path, suffix):
    cfg = (
        Config(TRICKY) if suffix != ".json" else Config({k: v for k, v in TRICKY.items() if k != "odd_keys"})
    )
    path = tmp_path / f"out{suffix}"
    assert cfg.dump(path) is None
    loaded = Config.fromfile(path)
    if suffix == ".json":  # JSON has no tuples: they come back as lists
        assert loaded.to_dict() == json.loads(json.dumps(cfg.to_dict()))
        assert loaded.model.backbone.out_indices == [0, 1, 2, 3]
    else:
        assert_same(loaded.to_dict(), cfg.to_dict())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_dump_of_a_loaded_file_matches_its_format(write):
    cfg = Config.fromfile(write("c.yaml", "a: 1\nb: [1, 2]\n"))
    assert "a: 1" in cfg.dump()
    py = Config.fromfile(write("c.py", "a = (1, 2)\n"))
    assert py.dump() == "a = (1, 2)\n"
    assert Config(dict(a=1)).dump() == "a = 1\n"


def test_dump_to_unknown_extension_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\.txt"):
        Config(dict(a=1)).dump(tmp_path / "x.txt")
    assert not os.listdir(tmp_path)
