"""The fixture tree loads to exactly the dicts mmcv 1.7.2 recorded for it.

tests/config/fixtures/tree reproduces the mmdetection config tree's tricky structures
(multi-level and mixed-format _base_ lists, _delete_ at depth, {{ _base_.x }} references,
predefined variables, lists of dicts replaced wholesale, overrides into list items).
mmcv_expected.json was recorded once from mmcv 1.7.2 by fixtures/record_mmcv_expected.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from detcli.config import Config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORDED = json.loads((FIXTURES / "mmcv_expected.json").read_text())


def _compat_module():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "mmdet_config_compat.py"
    spec = importlib.util.spec_from_file_location("mmdet_config_compat", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compat = _compat_module()


def test_the_recording_says_where_it_came_from():
    assert "mmcv 1.7.2" in RECORDED["provenance"]
    assert len(RECORDED["cases"]) >= 4


@pytest.mark.parametrize("case", RECORDED["cases"], ids=lambda c: f"{c['config']}+{len(c['options'])}")
def test_fixture_matches_mmcv(case):
    cfg = Config.fromfile(FIXTURES / "tree" / case["config"])
    options = ast.literal_eval(case["options"])
    if options:
        cfg.merge_from_dict(options)
    assert compat.first_difference(case["expected"], compat.encode(cfg.to_dict())) is None


def test_the_comparison_sees_a_tuple_turned_list_and_a_reordered_key():
    expected = RECORDED["cases"][0]["expected"]
    cfg = Config.fromfile(FIXTURES / "tree" / RECORDED["cases"][0]["config"])
    plain = cfg.to_dict()
    plain["model"]["backbone"]["out_indices"] = list(plain["model"]["backbone"]["out_indices"])
    diff = compat.first_difference(expected, compat.encode(plain))
    assert diff == "model.backbone.out_indices: tuple in mmcv, list here"
    reordered = cfg.to_dict()
    reordered["model"] = dict(reversed(list(reordered["model"].items())))
    assert "different order" in compat.first_difference(expected, compat.encode(reordered))
    changed = cfg.to_dict()
    changed["optimizer"]["lr"] = 0.02000001
    assert compat.first_difference(expected, compat.encode(changed)).startswith("optimizer.lr: 0.02 (float)")
