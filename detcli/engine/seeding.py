"""Random seeds: the run seed, and the per-step reseeding that makes resume exact.

The runner reseeds python, numpy and torch before fetching each training batch with
a seed derived from ``(run seed, rank, iteration)``. Every step's randomness (data
augmentation in the main process, samplers drawn at epoch start, RoI sampling,
dropout) then depends only on where the run is, not on its history, so a run resumed
at iteration k continues exactly as the uninterrupted one.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all GPUs); ``deterministic`` also pins cuDNN's algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def init_random_seed(seed: int | None = None, device: str = "cuda") -> int:
    """``seed`` itself, or a random one that every rank agrees on."""
    if seed is not None:
        return int(seed)
    from detcli.engine.dist import broadcast_object

    del device  # kept for mmdetection 2.x signature compatibility; the broadcast picks its device
    return int(broadcast_object(int(np.random.randint(2**31))))


def derive_seed(*keys: int) -> int:
    """A well-mixed 31-bit seed from integer ``keys`` (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0] >> 1)


def seed_step(seed: int, rank: int, step: int) -> None:
    """Reseed every generator for training step ``step`` of ``rank``."""
    s = derive_seed(seed, rank, step)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
