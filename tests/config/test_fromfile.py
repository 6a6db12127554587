"""Config.fromfile: .py/.json/.yaml, _base_ inheritance, _delete_, references and templates.

Expected dicts are written out by hand from the rules of mmcv 1.x's Config.
"""

from __future__ import annotations

import pickle

import pytest

from detcli.config import Config, ConfigDict


def test_python_file_top_level_names_are_the_keys(write):
    path = write(
        "cfg.py",
        """
        import os
        from math import pi
        a = 1
        b = dict(c=[1, 2], d=(3, 4))
        _private = 'kept'
        __dunder = 'dropped'
        square = lambda x: x * x
        def helper():
            return 0
        scale = pi  # a float, kept
        """,
    )
    cfg = Config.fromfile(path)
    # an imported value that is not a module or function (pi) is a key, as in mmcv
    assert list(cfg) == ["pi", "a", "b", "_private", "scale"]
    assert cfg.to_dict() == {
        "pi": 3.141592653589793,
        "a": 1,
        "b": {"c": [1, 2], "d": (3, 4)},
        "_private": "kept",
        "scale": 3.141592653589793,
    }
    assert isinstance(cfg.b, ConfigDict)
    assert cfg.filename == str(path)
    assert cfg.text == f"{path}\n" + path.read_text()


def test_json_and_yaml_files_and_yaml_tuples(write):
    js = write("a.json", '{"model": {"depth": 50, "scales": [1, 2]}, "flag": true, "none": null}')
    assert Config.fromfile(js).to_dict() == {
        "model": {"depth": 50, "scales": [1, 2]},
        "flag": True,
        "none": None,
    }
    ym = write("a.yaml", "model:\n  depth: 50\nscale: !!python/tuple [1333, 800]\n")
    cfg = Config.fromfile(ym)
    assert cfg.model.depth == 50 and cfg.scale == (1333, 800)
    assert Config.fromfile(write("b.yml", "x: 1\n")).x == 1


def test_base_list_relative_paths_children_win_and_dicts_merge(write):
    write(
        "base/model.py", "model = dict(type='A', backbone=dict(depth=50, style='pytorch'), neck=dict(n=1))\n"
    )
    write("base/data.py", "data = dict(samples_per_gpu=2, workers_per_gpu=2)\nlr = 0.02\n")
    child = write(
        "method/child.py",
        """
        _base_ = ['../base/model.py', '../base/data.py']
        model = dict(backbone=dict(depth=101), neck=dict(type='FPN'))
        lr = 0.01
        extra = [1]
        """,
    )
    cfg = Config.fromfile(child)
    assert cfg.to_dict() == {
        "model": {
            "type": "A",
            "backbone": {"depth": 101, "style": "pytorch"},
            "neck": {"n": 1, "type": "FPN"},
        },
        "data": {"samples_per_gpu": 2, "workers_per_gpu": 2},
        "lr": 0.01,
        "extra": [1],
    }
    # base keys keep their place; the child's new keys come after them
    assert list(cfg) == ["model", "data", "lr", "extra"]
    assert "_base_" not in cfg


def test_base_as_a_single_string_and_several_levels(write):
    write("l0.py", "a = dict(x=1, y=dict(z=1))\nkeep = 'root'\n")
    write("sub/l1.py", "_base_ = '../l0.py'\na = dict(y=dict(z=2))\n")
    leaf = write("sub/deeper/l2.py", "_base_ = '../l1.py'\na = dict(x=3)\n")
    cfg = Config.fromfile(leaf)
    assert cfg.to_dict() == {"a": {"x": 3, "y": {"z": 2}}, "keep": "root"}
    # text holds every file, bases first, each after its path
    assert (
        cfg.text.index("keep = 'root'")
        < cfg.text.index("a = dict(y=dict(z=2))")
        < cfg.text.index("a = dict(x=3)")
    )


def test_lists_and_dicts_inside_lists_are_replaced_wholesale(write):
    write("b.py", "heads = [dict(type='A', n=1), dict(type='B', n=2)]\nscales = [1, 2, 3]\n")
    cfg = Config.fromfile(write("c.py", "_base_ = 'b.py'\nheads = [dict(n=5)]\nscales = [4]\n"))
    assert cfg.to_dict() == {"heads": [{"n": 5}], "scales": [4]}


def test_delete_replaces_instead_of_merging(write):
    write(
        "b.py",
        "optimizer = dict(type='SGD', lr=0.02, momentum=0.9)\nmodel = dict(neck=dict(type='FPN', n=5))\n",
    )
    cfg = Config.fromfile(
        write(
            "c.py",
            """
            _base_ = 'b.py'
            optimizer = dict(_delete_=True, type='Adam', lr=0.001)
            model = dict(neck=dict(_delete_=True, type='PAFPN'))
            """,
        )
    )
    assert cfg.to_dict() == {"optimizer": {"type": "Adam", "lr": 0.001}, "model": {"neck": {"type": "PAFPN"}}}


def test_delete_without_a_base_value_stays_in_the_dict(write):
    """mmcv consumes _delete_ only where it meets a base value; elsewhere the flag is kept."""
    write("b.py", "a = 1\n")
    cfg = Config.fromfile(write("c.py", "_base_ = 'b.py'\nnew = dict(_delete_=True, x=1)\n"))
    assert cfg.to_dict() == {"a": 1, "new": {"_delete_": True, "x": 1}}
    # and a file without _base_ is not merged at all
    assert Config.fromfile(write("d.py", "n = dict(_delete_=False)\n")).to_dict() == {
        "n": {"_delete_": False}
    }


def test_delete_false_merges(write):
    write("b.py", "m = dict(a=1, b=2)\n")
    cfg = Config.fromfile(write("c.py", "_base_ = 'b.py'\nm = dict(_delete_=False, b=3)\n"))
    assert cfg.to_dict() == {"m": {"a": 1, "b": 3}}


def test_a_scalar_replacing_a_dict_is_fine_but_a_dict_into_a_scalar_is_an_error(write):
    write("b.py", "a = dict(x=1)\nb = 5\n")
    assert Config.fromfile(write("c.py", "_base_ = 'b.py'\na = None\n")).to_dict() == {"a": None, "b": 5}
    from detcli.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot merge 'b'.*dict in the child.*int") as info:
        Config.fromfile(write("d.py", "_base_ = 'b.py'\nb = dict(y=1)\n"))
    assert "_delete_=True" in info.value.hint
    assert Config.fromfile(write("e.py", "_base_ = 'b.py'\nb = dict(_delete_=True, y=1)\n")).b == {"y": 1}


def test_base_references_whole_nested_and_indexed_values(write):
    write(
        "b.py",
        """
        dataset_type = 'CocoDataset'
        train_pipeline = [dict(type='Load'), dict(type='Resize', img_scale=(1333, 800))]
        model = dict(head=dict(num_classes=80, strides=[8, 16]))
        """,
    )
    cfg = Config.fromfile(
        write(
            "c.py",
            """
            _base_ = 'b.py'
            data = dict(train=dict(type={{_base_.dataset_type}}, pipeline={{ _base_.train_pipeline }}))
            n = {{ _base_.model.head.num_classes }}
            first_stride = {{_base_.model.head.strides.0}}
            scale = {{ _base_.train_pipeline.1.img_scale }}
            quoted = '{{ _base_.model.head }}'
            root = 'data/{{ _base_.dataset_type }}/images'
            """,
        )
    )
    assert cfg.data.train.type == "CocoDataset"
    assert cfg.data.train.pipeline == [{"type": "Load"}, {"type": "Resize", "img_scale": (1333, 800)}]
    assert cfg.n == 80 and cfg.first_stride == 8
    assert cfg.scale == (1333, 800) and isinstance(cfg.scale, tuple)
    assert cfg.quoted == {"num_classes": 80, "strides": [8, 16]}
    assert cfg.root == "data/CocoDataset/images"
    # a copy, not an alias of the base's value
    cfg.data.train.pipeline[0].type = "Changed"
    assert cfg.train_pipeline[0].type == "Load"


def test_base_references_in_yaml_and_json(write):
    write("b.py", "depth = 50\nname = 'r50'\n")
    cfg = Config.fromfile(
        write(
            "c.yaml", "_base_: b.py\nbackbone:\n  depth: {{ _base_.depth }}\n  tag: 'x-{{ _base_.name }}'\n"
        )
    )
    assert cfg.to_dict() == {"depth": 50, "name": "r50", "backbone": {"depth": 50, "tag": "x-r50"}}
    js = write(
        "c.json",
        '{"_base_": "b.py", "d": {{ _base_.depth }}, "n": "{{ _base_.name }}", "p": "a/{{_base_.name}}"}',
    )
    assert Config.fromfile(js).to_dict() == {"depth": 50, "name": "r50", "d": 50, "n": "r50", "p": "a/r50"}


def test_base_references_inside_double_quoted_python_strings(write):
    write("b.py", "root = 'data/coco/'\n")
    cfg = Config.fromfile(write("c.py", '_base_ = "b.py"\nann = "{{ _base_.root }}annotations/train.json"\n'))
    assert cfg.ann == "data/coco/annotations/train.json"


def test_predefined_variables(write, tmp_path):
    path = write(
        "sub/my_cfg.py",
        """
        work_dir = './work_dirs/{{ fileBasenameNoExtension }}'
        parts = ['{{fileDirname}}', '{{ fileBasename }}', '{{fileExtname}}']
        """,
    )
    cfg = Config.fromfile(path)
    assert cfg.work_dir == "./work_dirs/my_cfg"
    assert cfg.parts == [str(tmp_path / "sub"), "my_cfg.py", ".py"]
    raw = Config.fromfile(path, use_predefined_variables=False)
    assert raw.work_dir == "./work_dirs/{{ fileBasenameNoExtension }}"


def test_predefined_variables_refer_to_the_file_that_uses_them(write):
    write("base/b.py", "name = '{{ fileBasenameNoExtension }}'\n")
    cfg = Config.fromfile(write("c.py", "_base_ = 'base/b.py'\nmine = '{{ fileBasenameNoExtension }}'\n"))
    assert (cfg.name, cfg.mine) == ("b", "c")


def test_deprecation_key_warns_and_is_removed(write):
    path = write("old.py", "_deprecation_ = dict(expected='new.py', reference='https://x/y')\na = 1\n")
    with pytest.warns(DeprecationWarning, match="new.py"):
        cfg = Config.fromfile(path)
    assert cfg.to_dict() == {"a": 1}


def test_legacy_top_level_keys_pass_through_untouched(write):
    path = write(
        "legacy.py",
        "model = dict(type='FasterRCNN', pretrained='torchvision://resnet50')\n"
        "train_cfg = dict(rpn=None)\ntest_cfg = dict(rcnn=None)\ntotal_epochs = 12\n",
    )
    cfg = Config.fromfile(path)
    assert (
        cfg.total_epochs == 12 and cfg.train_cfg == {"rpn": None} and cfg.model.pretrained.startswith("torch")
    )


def test_config_object_api(write):
    cfg = Config(dict(a=dict(b=1), lst=[dict(c=2)]))
    assert cfg.a.b == 1 and cfg["a"]["b"] == 1 and cfg.lst[0].c == 2
    cfg.x = dict(y=2)
    cfg["z"] = 3
    assert cfg.x.y == 2 and isinstance(cfg.x, ConfigDict) and "z" in cfg and len(cfg) == 4
    assert cfg.get("missing", 7) == 7
    assert cfg.filename is None and cfg.text == ""
    restored = pickle.loads(pickle.dumps(cfg))
    assert restored.to_dict() == cfg.to_dict()
    assert "Config (path: None)" in repr(cfg)
    from detcli.errors import ConfigError

    with pytest.raises(ConfigError, match="'filename' cannot be a top-level config key"):
        Config(dict(filename=1))


def test_fromstring_in_each_format():
    assert Config.fromstring("a = dict(b=(1, 2))\n", ".py").a.b == (1, 2)
    assert Config.fromstring('{"a": 1}', ".json").a == 1
    assert Config.fromstring("a: [1, 2]\n", ".yaml").a == [1, 2]
