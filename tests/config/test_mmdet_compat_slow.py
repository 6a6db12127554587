"""All 666 configs of mmdetection 2.28.2 load here exactly as mmcv 1.x loads them (slow).

Inputs, first found wins: $MMDET_CONFIGS + $MMCV_PYTHON; an unpacked wheel at
/tmp/ref/mmdet_whl with /tmp/mmcvenv; otherwise they are downloaded and built under
~/.cache/detcli/mmdet-compat (needs network: pip download mmdet==2.28.2, mmcv 1.7.2 venv).
"""

from __future__ import annotations

import importlib.util
import os
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


def _inputs(compat) -> tuple[Path, str]:
    if os.environ.get("MMDET_CONFIGS") and os.environ.get("MMCV_PYTHON"):
        return Path(os.environ["MMDET_CONFIGS"]), os.environ["MMCV_PYTHON"]
    local = Path("/tmp/ref/mmdet_whl/mmdet/.mim/configs")
    if local.is_dir() and Path("/tmp/mmcvenv/bin/python").exists():
        return local, "/tmp/mmcvenv/bin/python"
    return compat.prepare(Path.home() / ".cache" / "detcli" / "mmdet-compat")


def test_whole_mmdet_tree_loads_identically():
    compat = _compat()
    configs, mmcv_python = _inputs(compat)
    report = compat.compare_tree(configs, mmcv_python, check_cli=True)
    assert report["total"] == 666
    assert report["mismatches"] == []
    assert report["identical"] == 666
