"""--cfg-options: parsing KEY=VALUE strings and merging them with merge_from_dict."""

from __future__ import annotations

import pytest

from detcli.config import Config, parse_cfg_options
from detcli.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("True", True),
        ("false", False),
        ("None", None),
        ("abc", "abc"),
        ("'quoted string'", "quoted string"),
        ('"1"', "1"),
        ("[1,2]", [1, 2]),
        ("[1, 2, 3]", [1, 2, 3]),
        ("(1333,800)", (1333, 800)),
        ("(1,)", (1,)),
        ("[]", []),
        ("()", ()),
        ("[(1,2),(3,4)]", [(1, 2), (3, 4)]),
        ("[(1333, 640), (1333, 800)]", [(1333, 640), (1333, 800)]),
        ("[a,[b,c],(d,1)]", ["a", ["b", "c"], ("d", 1)]),
        ("bbox,segm", ["bbox", "segm"]),
        ("a,", ["a"]),
        ("['a,b', c]", ["a,b", "c"]),
        ("{'a': 1, 'b': (2, 3)}", {"a": 1, "b": (2, 3)}),
        ("", ""),
        ("path/to/x=y.pth", "path/to/x=y.pth"),
    ],
)
def test_values_parse_like_dictaction(text, expected):
    value = parse_cfg_options([f"key={text}"])["key"]
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, (list, tuple)):
        assert [type(v) for v in value] == [type(v) for v in expected]


def test_several_options_and_later_keys_win():
    assert parse_cfg_options(["a.b=1", "x=[1,2]", "a.b=2"]) == {"a.b": 2, "x": [1, 2]}
    assert parse_cfg_options(None) == {} and parse_cfg_options([]) == {}


@pytest.mark.parametrize("bad", ["foo", "=1", "a=[1,2", "a=(1,2]]", "a='open"])
def test_malformed_overrides_are_config_errors_naming_the_option(bad):
    with pytest.raises(ConfigError) as info:
        parse_cfg_options(["ok=1", bad])
    assert bad in str(info.value)
    assert info.value.hint


def base() -> Config:
    return Config(
        dict(
            model=dict(backbone=dict(depth=50, out_indices=(0, 1, 2, 3))),
            data=dict(
                train=dict(pipeline=[dict(type="Load"), dict(type="Flip", ratio=0.5), dict(type="Resize")])
            ),
            scales=(dict(a=1), dict(a=2)),
        )
    )


def test_merge_from_dict_dotted_keys_new_keys_and_tuples():
    cfg = base()
    cfg.merge_from_dict(
        parse_cfg_options(
            ["model.backbone.depth=101", "model.neck.type=FPN", "data.train.pipeline.2.img_scale=(1333,800)"]
        )
    )
    assert cfg.model.backbone.depth == 101
    assert cfg.model.backbone.out_indices == (0, 1, 2, 3)
    assert cfg.model.neck == {"type": "FPN"}
    assert cfg.data.train.pipeline[2] == {"type": "Resize", "img_scale": (1333, 800)}
    assert isinstance(cfg.data.train.pipeline[2].img_scale, tuple)
    assert cfg.data.train.pipeline[1] == {"type": "Flip", "ratio": 0.5}


def test_merge_from_dict_index_into_tuple_and_replace_list_item():
    cfg = base()
    cfg.merge_from_dict({"scales.1.a": 5, "data.train.pipeline.0": "replaced"})
    assert cfg.scales == ({"a": 1}, {"a": 5}) and isinstance(cfg.scales, tuple)
    assert cfg.data.train.pipeline[0] == "replaced"


def test_merge_from_dict_whole_list_and_delete():
    cfg = base()
    cfg.merge_from_dict(
        {"data.train.pipeline": [dict(type="Only")], "model.backbone": dict(_delete_=True, type="X")}
    )
    assert cfg.data.train.pipeline == [{"type": "Only"}]
    assert cfg.model.backbone == {"type": "X"}


def test_merge_from_dict_does_not_touch_the_previous_values():
    cfg = base()
    old_pipeline = cfg.data.train.pipeline
    cfg.merge_from_dict({"data.train.pipeline.1.ratio": 0.0})
    assert old_pipeline[1].ratio == 0.5 and cfg.data.train.pipeline[1].ratio == 0.0


def test_index_out_of_range_names_key_index_and_length():
    cfg = base()
    with pytest.raises(ConfigError) as info:
        cfg.merge_from_dict({"data.train.pipeline.5.img_scale": (1, 2)})
    message = str(info.value)
    assert "data.train.pipeline.5" in message and "index 5" in message and "length 3" in message


def test_named_key_into_a_list_and_dict_into_a_scalar_are_errors():
    with pytest.raises(ConfigError, match="data.train.pipeline.type"):
        base().merge_from_dict({"data.train.pipeline.type": "x"})
    with pytest.raises(ConfigError, match="model.backbone.depth"):
        base().merge_from_dict({"model.backbone.depth.x": 1})
    with pytest.raises(ConfigError, match="conflicts"):
        base().merge_from_dict({"a": 1, "a.b": 2})


def test_dict_action_for_argparse_scripts(capsys):
    import argparse

    from detcli.config import DictAction

    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(["--cfg-options", "a.b=1", "c=(1,2)"])
    assert args.cfg_options == {"a.b": 1, "c": (1, 2)}
    with pytest.raises(SystemExit):
        parser.parse_args(["--cfg-options", "novalue"])
    assert "bad override 'novalue'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dict(type='Pretrained', checkpoint='x.pth')", {"type": "Pretrained", "checkpoint": "x.pth"}),
        ("dict()", {}),
        ("dict(a=dict(b=[1, (2, 3)], c=None), d=-1.5, e=True)", {"a": {"b": [1, (2, 3)], "c": None}, "d": -1.5,
                                                               "e": True}),
        ("{'a': 1}", {"a": 1}),
        ("{'a': dict(b='c'), 1: [dict(x=2)]}", {"a": {"b": "c"}, 1: [{"x": 2}]}),
        ("[dict(type='A'), dict(type='B', p=0.5)]", [{"type": "A"}, {"type": "B", "p": 0.5}]),
        ("dict(a=1),dict(b=2)", [{"a": 1}, {"b": 2}]),
    ],
)
def test_dict_values_are_read_as_dicts_not_strings(text, expected):
    value = parse_cfg_options([f"key={text}"])["key"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "culprit", "dotted"),
    [
        ("dict(type=Pretrained, checkpoint='x.pth')", "'Pretrained'", "k.type=Pretrained k.checkpoint='x.pth'"),
        ("dict(a=__import__('os').getcwd())", "__import__('os').getcwd()", "k.a=__import__('os').getcwd()"),
        ("{'a': open('f')}", "open('f')", "k.a=open('f')"),
        ("{name: 1}", "'name'", None),
        ("dict(**other)", "dict(**other)", None),
    ],
)
def test_dicts_that_are_not_literals_are_refused_in_one_line(text, culprit, dotted):
    with pytest.raises(ConfigError) as info:
        parse_cfg_options([f"k={text}"])
    message = str(info.value)
    assert "\n" not in message and f"k={text}" in message and culprit in message
    assert (dotted or "model.backbone.init_cfg=dict(type='Pretrained', checkpoint='x.pth')") in info.value.hint


def test_a_dict_override_merges_into_a_dict_and_replaces_none():
    cfg = Config(dict(model=dict(backbone=dict(depth=50, init_cfg=None),
                                 neck=dict(type="FPN", init_cfg=dict(type="Xavier", layer="Conv2d")))))
    cfg.merge_from_dict(parse_cfg_options([
        "model.backbone.init_cfg=dict(type='Pretrained', checkpoint='x.pth')",
        "model.neck.init_cfg={'distribution': 'uniform'}",
    ]))
    assert cfg.model.backbone.init_cfg == {"type": "Pretrained", "checkpoint": "x.pth"}
    assert cfg.model.backbone.init_cfg.checkpoint == "x.pth"  # a ConfigDict, not a string
    assert cfg.model.neck.init_cfg == {"type": "Xavier", "layer": "Conv2d", "distribution": "uniform"}
    with pytest.raises(ConfigError, match="model.backbone.depth"):  # over a scalar: still an error
        cfg.merge_from_dict({"model.backbone.depth": {"a": 1}})
    cfg = Config(dict(model=dict(backbone=dict(depth=50, init_cfg=None))))  # a None met deeper inside the value
    cfg.merge_from_dict(parse_cfg_options(["model.backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='y'))"]))
    assert cfg.model.backbone == {"depth": 50, "init_cfg": {"type": "Pretrained", "checkpoint": "y"}}


def test_print_config_applies_a_dict_override(tmp_path, capsys):
    import json

    from detcli.cli import main

    path = tmp_path / "c.py"
    path.write_text("model = dict(backbone=dict(type='ResNet', init_cfg=None))\n")
    assert main(["print-config", str(path), "--json", "--cfg-options",
                 "model.backbone.init_cfg=dict(type='Pretrained', checkpoint='x.pth')"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"]["backbone"]["init_cfg"] == {"type": "Pretrained", "checkpoint": "x.pth"}
