"""Shared test setup: one torch thread per process, deterministic seeds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))  # shared test helpers (tiny_configs.py) import by name

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    """Each test starts from the same random state, whatever ran before it."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    yield


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Path:
    """The generated shapes set that tests/tiny_configs.py trains on: 4 training and 2 validation
    images of 64 px. One copy for the whole session: copy it before changing it."""
    from detcli.data.synthetic import generate_shapes

    root = tmp_path_factory.mktemp("shapes64") / "shapes"
    generate_shapes(root, num_train=4, num_val=2, size=64, seed=0)
    return root


@pytest.fixture(autouse=True)
def _checkpoints_weights_only(monkeypatch):
    """``--unsafe-load`` sets an environment switch; no test may leave it on for the next one."""
    monkeypatch.setenv("DETCLI_UNSAFE_LOAD", "0")


def _config_compat():
    """benchmarks/mmdet_config_compat.py, which knows how to fetch mmdetection's configs and mmcv."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mmdet_config_compat.py"
    spec = importlib.util.spec_from_file_location("mmdet_config_compat", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mmdet_config_tree(tmp_path_factory):
    """mmdetection 2.28.2's whole config tree, unpacked from its wheel that pip downloads into
    pytest's temporary folder (network; only ``slow`` tests use it). The fast tests read the few
    configs they need from tests/fixtures/mmdet_2_28/configs instead."""
    return _config_compat().fetch_configs(tmp_path_factory.mktemp("mmdet-2.28.2"))


@pytest.fixture(scope="session")
def mmcv_python(tmp_path_factory):
    """The python of a venv in pytest's temporary folder with mmcv 1.7.2 (network; ``slow`` tests)."""
    return _config_compat().build_mmcv_venv(tmp_path_factory.mktemp("mmcv-1.7.2"))
