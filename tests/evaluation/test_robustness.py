"""Corruption-benchmark figures (P, mPC, rPC) on hand-made results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detcli.errors import ConfigError, DataError
from detcli.evaluation.report import render_text
from detcli.evaluation.robustness import (
    ALL,
    BENCHMARK,
    COCO_METRICS,
    corruption_table,
    corruptions_from,
    summarize,
    summary_text,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "robustness"


def _hand_made() -> dict:
    # value of metric j at severity s of corruption c: 0.6 - 0.05 s - 0.01 c (s > 0) - 0.001 j
    return json.loads((FIXTURES / "hand_made.json").read_text())


def test_full_benchmark_figures_by_hand():
    summary = summarize(_hand_made(), "bbox")
    j = np.arange(12) * 0.001
    assert summary.clean == pytest.approx(0.6 - j)
    # mean over the 15 benchmark corruptions (c = 0..14) of the mean over severities 1..5
    assert summary.mpc == pytest.approx(0.6 - 0.15 - 0.07 - j)
    assert summary.rpc == pytest.approx((0.38 - j) / (0.6 - j))
    assert summary.corruptions == BENCHMARK
    every = summarize(_hand_made(), "bbox", aggregate="all")
    assert every.mpc == pytest.approx(0.6 - 0.15 - 0.09 - j)  # c = 0..18
    assert every.corruptions == ALL


def test_printed_blocks_equal_mmdetection_2_28():
    # mmdet_2_28_output.txt: what mmdetection 2.28's robustness_eval.py printed for the same
    # numbers (tests/fixtures/robustness/record_reference.py)
    reference = (FIXTURES / "mmdet_2_28_output.txt").read_text().split("== aggregate=all")
    for block, aggregate in zip(reference, ("benchmark", "all")):
        expected = [ln for ln in block.splitlines() if ln.startswith((" Average", "Performance", "Mean", "Relative"))]
        ours = summary_text(summarize(_hand_made(), "bbox", aggregate=aggregate)).splitlines()
        assert ours == expected


def test_partial_run_averages_the_severities_that_ran():
    results = {"gaussian_noise": {0: {"bbox": {"AP": 0.5}}, 3: {"bbox": {"AP": 0.2}}},
               "motion_blur": {"0": {"bbox": {"AP": 0.5}}, "2": {"bbox": {"AP": 0.4}}, "4": {"bbox": {"AP": 0.2}}}}
    summary = summarize(results, "bbox", ["AP"])
    assert summary.clean == pytest.approx([0.5])
    assert summary.mpc == pytest.approx([(0.2 + 0.3) / 2])  # noise: 0.2; blur: mean(0.4, 0.2)
    assert summary.rpc == pytest.approx([0.5])
    text = render_text(corruption_table(summary))
    assert "gaussian noise" in text and "0.300" in text and "mPC (2 corruptions)" in text


def test_holdout_only_runs_are_averaged_and_clean_only_runs_print_p():
    results = {"speckle_noise": {0: {"bbox": {"AP": 0.5}}, 1: {"bbox": {"AP": 0.4}}}}
    assert summarize(results, "bbox", ["AP"]).mpc == pytest.approx([0.4])
    clean = summarize({"None": {0: {"bbox": {"AP": 0.5}}}}, "bbox", ["AP"])
    assert clean.corruptions == [] and "Mean Performance" not in summary_text(clean)


def test_missing_task_and_bad_aggregate_are_one_line_errors():
    with pytest.raises(DataError, match="no segm AP"):
        summarize(_hand_made(), "segm", ["AP"])
    with pytest.raises(ConfigError):
        summarize(_hand_made(), "bbox", aggregate="some")


def test_corruption_groups_follow_mmdetection():
    assert corruptions_from(["benchmark"]) == BENCHMARK and len(BENCHMARK) == 15
    assert corruptions_from(["noise", "all"]) == ALL and len(ALL) == 19  # 'all' wins, as in test_robustness.py
    assert corruptions_from(["blur"]) == ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"]
    assert corruptions_from(["snow", "fog", "snow"]) == ["snow", "fog"]
    assert corruptions_from(["None"]) == ["None"]
    with pytest.raises(ConfigError, match="unknown corruption 'rain'"):
        corruptions_from(["rain"])
    assert COCO_METRICS[0] == "AP" and len(COCO_METRICS) == 12
