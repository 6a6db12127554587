"""ConfigDict: attribute access at every depth, plain-dict export, copying."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from detcli.config import ConfigDict


def make() -> ConfigDict:
    return ConfigDict(
        model=dict(backbone=dict(depth=50, out_indices=(0, 1)), heads=[dict(type="A"), dict(type="B")])
    )


def test_nested_dicts_also_inside_lists_and_tuples_get_attribute_access():
    cfg = make()
    assert cfg.model.backbone.depth == 50
    assert cfg.model.heads[1].type == "B"
    assert isinstance(cfg.model.heads[0], ConfigDict)
    assert cfg.model.backbone.out_indices == (0, 1)
    assert isinstance(cfg.model.backbone.out_indices, tuple)
    pair = ConfigDict(x=(dict(a=1), 2))
    assert isinstance(pair.x, tuple) and pair.x[0].a == 1


def test_missing_key_is_attribute_error_for_attributes_and_key_error_for_items():
    cfg = make()
    with pytest.raises(AttributeError, match="no attribute 'neck'"):
        _ = cfg.model.neck
    with pytest.raises(KeyError):
        _ = cfg["neck"]
    assert not hasattr(cfg.model, "neck")
    assert getattr(cfg.model, "neck", "default") == "default"


def test_setting_attributes_wraps_dicts_and_keeps_dict_methods_read_only():
    cfg = make()
    cfg.model.neck = {"type": "FPN", "cfg": {"x": 1}}
    assert cfg.model.neck.cfg.x == 1
    assert cfg["model"]["neck"]["type"] == "FPN"
    cfg["optimizer"] = dict(lr=0.02)
    assert cfg.optimizer.lr == 0.02
    with pytest.raises(AttributeError, match="read-only"):
        cfg.items = 3
    assert cfg["model"].items is not None and callable(cfg.items)
    del cfg.optimizer
    assert "optimizer" not in cfg


def test_to_dict_gives_plain_containers_equal_to_the_source():
    source = {"a": {"b": [{"c": 1}, (2, {"d": 3})]}, "e": None}
    plain = ConfigDict(source).to_dict()
    assert plain == source
    assert type(plain["a"]) is dict
    assert type(plain["a"]["b"][0]) is dict
    assert type(plain["a"]["b"][1]) is tuple
    assert type(plain["a"]["b"][1][1]) is dict
    json.dumps(plain)  # plain containers serialise


def test_update_merges_nested_dicts_like_mmcv():
    cfg = ConfigDict(a=dict(x=1, y=2), b=1)
    cfg.update(dict(a=dict(y=3, z=4)), b=dict(k=1))
    assert cfg == {"a": {"x": 1, "y": 3, "z": 4}, "b": {"k": 1}}
    assert cfg.b.k == 1


def test_copy_is_shallow_deepcopy_and_pickle_are_deep():
    cfg = make()
    shallow = cfg.copy()
    assert isinstance(shallow, ConfigDict) and shallow.model is cfg.model
    deep = copy.deepcopy(cfg)
    deep.model.backbone.depth = 101
    assert cfg.model.backbone.depth == 50
    assert isinstance(deep.model.heads[0], ConfigDict)
    restored = pickle.loads(pickle.dumps(cfg))
    assert restored == cfg and restored.model.heads[0].type == "A"
