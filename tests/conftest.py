"""Shared test setup: one torch thread per process, deterministic seeds."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

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


@pytest.fixture(autouse=True)
def _checkpoints_weights_only(monkeypatch):
    """``--unsafe-load`` sets an environment switch; no test may leave it on for the next one."""
    monkeypatch.setenv("DETCLI_UNSAFE_LOAD", "0")
