"""The losses of the one-stage heads against values computed by mmdetection 2.28.2 itself on
the same inputs (``tests/fixtures/models/one_stage_references/loss_values_228.json``), plus
the properties that make them usable: gradients, zero-weight shortcuts, registry names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.registry import LOSSES

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/models/one_stage_references/loss_values_228.json"
RECORDED = json.loads(FIXTURE.read_text())


def _tensor(value) -> torch.Tensor:
    array = np.asarray(value)
    return torch.from_numpy(array.astype(np.float32) if array.dtype.kind == "f" else array.astype(np.int64))


def _case_id(case: dict) -> str:
    cfg = ",".join(f"{k}={v}" for k, v in case["cfg"].items() if k != "type")
    call = ",".join(sorted(case["call"]))
    return f"{case['cfg']['type']}({cfg})[{call}]"


@pytest.mark.parametrize("case", RECORDED["cases"], ids=_case_id)
def test_loss_values_equal_mmdetection(case):
    loss = LOSSES.build(case["cfg"])
    inputs = RECORDED["inputs"][case["inputs"]]
    target = inputs["target"]
    target = tuple(_tensor(t) for t in target) if case["cfg"]["type"] == "QualityFocalLoss" else _tensor(target)
    call = {k: _tensor(v) if isinstance(v, list) else v for k, v in case["call"].items()}
    for expected in case["expected"]:  # GHM with momentum: consecutive calls differ
        got = loss(_tensor(inputs["pred"]), target, **call)
        assert got.reshape(-1).tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_every_one_stage_loss_is_registered():
    for name in ("GIoULoss", "DIoULoss", "CIoULoss", "BoundedIoULoss", "QualityFocalLoss", "DistributionFocalLoss",
                 "VarifocalLoss", "GHMC", "GHMR", "BalancedL1Loss", "MSELoss"):
        assert name in LOSSES


@pytest.mark.parametrize("name", ["GIoULoss", "DIoULoss", "CIoULoss", "BoundedIoULoss"])
def test_box_losses_give_gradients_and_a_connected_zero(name):
    loss = LOSSES.build(dict(type=name))
    target = torch.tensor([[10.0, 10, 50, 60], [0, 0, 20, 20]])
    pred = (target + torch.tensor([[2.0, -3, 4, 1], [1, 1, -2, 3]])).requires_grad_()
    value = loss(pred, target)
    value.backward()
    assert value.item() > 0 and pred.grad.abs().sum() > 0
    zero = loss(pred, target, weight=torch.zeros(2))
    assert zero.item() == 0 and zero.requires_grad
    assert loss(target, target).item() == pytest.approx(0, abs=1e-3)


def test_distribution_focal_loss_is_smallest_at_the_two_neighbouring_bins():
    loss = LOSSES.build(dict(type="DistributionFocalLoss"))
    target = torch.tensor([2.25])
    good = torch.full((1, 5), -10.0)
    good[0, 2], good[0, 3] = math.log(0.75), math.log(0.25)  # the split the target asks for
    worse = torch.full((1, 5), -10.0)
    worse[0, 1] = 0.0
    assert loss(good, target).item() < loss(worse, target).item()


def test_ghm_weights_follow_gradient_density():
    """Two easy samples share a bin, one hard sample is alone: it weighs twice as much."""
    ghmc = LOSSES.build(dict(type="GHMC", bins=10))
    pred = torch.tensor([[-9.0], [-9.0], [3.0]])
    per_element = ghmc(pred, torch.tensor([[0.0], [0.0], [0.0]]), torch.ones(3, 1), reduction_override="none")
    bce = torch.nn.functional.binary_cross_entropy_with_logits(pred, torch.zeros(3, 1), reduction="none")
    weights = per_element / bce
    assert weights[2].item() == pytest.approx(2 * weights[0].item(), rel=1e-5)
    assert "edges" in dict(ghmc.named_buffers())
    assert "acc_sum" in dict(LOSSES.build(dict(type="GHMR", momentum=0.5)).named_buffers())
