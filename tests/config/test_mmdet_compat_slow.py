"""All 666 configs of mmdetection 2.28.2 load here exactly as mmcv 1.x loads them (slow).

The inputs are fetched into pytest's temporary folder by the ``mmdet_config_tree`` and
``mmcv_python`` fixtures (tests/conftest.py): the mmdet 2.28.2 wheel (pip download) and a
venv with mmcv 1.7.2, so ``make test-slow`` runs it from a fresh clone (with network).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _compat():
    spec = importlib.util.spec_from_file_location(
        "mmdet_config_compat", REPO / "benchmarks/mmdet_config_compat.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_whole_mmdet_tree_loads_identically(mmdet_config_tree, mmcv_python):
    report = _compat().compare_tree(mmdet_config_tree, mmcv_python, check_cli=True)
    assert report["total"] == 666
    assert report["mismatches"] == []
    assert report["identical"] == 666
