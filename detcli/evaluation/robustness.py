"""Corruption-benchmark figures (Michaelis et al., "Benchmarking Robustness in Object Detection", 2019).

Results of a benchmark run are kept as mmdetection's ``test_robustness.py`` keeps them:
``{corruption: {severity: {task: {metric: value}}}}`` with severity 0 the clean images
(``task`` is ``bbox`` or ``segm``; metrics ``AP``, ``AP50`` ... ``ARl``). From those:

- ``P``: performance on clean data (severity 0);
- ``mPC``: mean performance under corruption, the mean over corruptions of the mean over
  severities 1-5;
- ``rPC``: relative performance under corruption, ``mPC / P``.

``aggregate='benchmark'`` takes the 15 benchmark corruptions (the 4 held-out ones are for
validation), ``'all'`` every corruption in the results. mmdetection's ``robustness_eval.py``
fills severities that were not run with 0 and still divides by 5; here the mean is over the
severities that were run (the same figures for a full run, the paper's definition for a
partial one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detcli.errors import ConfigError, DataError
from detcli.evaluation.coco_summary import COCO_STATS

NOISE = ["gaussian_noise", "shot_noise", "impulse_noise"]
BLUR = ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"]
WEATHER = ["snow", "frost", "fog", "brightness"]
DIGITAL = ["contrast", "elastic_transform", "pixelate", "jpeg_compression"]
HOLDOUT = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
BENCHMARK = NOISE + BLUR + WEATHER + DIGITAL
ALL = BENCHMARK + HOLDOUT
GROUPS = {"benchmark": BENCHMARK, "all": ALL, "noise": NOISE, "blur": BLUR, "weather": WEATHER,
          "digital": DIGITAL, "holdout": HOLDOUT}
COCO_METRICS = COCO_STATS
# how mmdetection's robustness_eval.py prints each metric (COCOeval.summarize's lines)
_METRIC_LINES = [(1, None, "all", 100), (1, 0.5, "all", 100), (1, 0.75, "all", 100), (1, None, "small", 100),
                 (1, None, "medium", 100), (1, None, "large", 100), (0, None, "all", 1), (0, None, "all", 10),
                 (0, None, "all", 100), (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100)]

Results = Mapping[str, Mapping[int, Mapping[str, Mapping[str, float]]]]


def corruptions_from(names: Sequence[str]) -> list[str]:
    """``--corruptions``: a group name (benchmark, all, noise, blur, weather, digital, holdout),
    ``None`` (clean images only) or corruption names, in mmdetection's order of precedence."""
    names = list(names) or ["benchmark"]
    for group in ("all", "benchmark", "noise", "blur", "weather", "digital", "holdout"):
        if group in names:
            return list(GROUPS[group])
    if "None" in names:
        return ["None"]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise ConfigError(f"unknown corruption {unknown[0]!r}",
                          hint=f"use a group ({', '.join(GROUPS)}) or names such as {', '.join(ALL[:4])} ...")
    return list(dict.fromkeys(names))


@dataclass
class RobustnessSummary:
    """P, mPC and rPC of one task over ``metrics``, and the per-corruption table behind them."""

    task: str
    metrics: list[str]
    clean: np.ndarray | None  # P, (metrics,); None without a severity-0 run
    mpc: np.ndarray  # (metrics,)
    rpc: np.ndarray | None
    corruptions: list[str]  # those averaged into mPC
    table: dict[str, dict[int, float]]  # corruption -> severity -> first metric


def _value(results: Results, corruption: str, severity: int, task: str, metric: str) -> float:
    try:
        return float(results[corruption][severity][task][metric])
    except KeyError:
        raise DataError(f"the results of {corruption} severity {severity} have no {task} {metric}",
                        hint=f"run the benchmark with --eval {task}") from None


def summarize(results: Results, task: str = "bbox", metrics: Sequence[str] | None = None,
              aggregate: str = "benchmark") -> RobustnessSummary:
    """P, mPC and rPC of ``task`` from benchmark ``results`` (severity keys may be ints or strings)."""
    if aggregate not in ("benchmark", "all"):
        raise ConfigError(f"unknown aggregate {aggregate!r}", hint="use benchmark or all")
    results = {c: {int(s): v for s, v in sev.items()} for c, sev in results.items()}
    metrics = list(metrics or COCO_METRICS)
    corrupted = [c for c in results if any(s > 0 for s in results[c])]
    chosen = [c for c in corrupted if c in BENCHMARK] if aggregate == "benchmark" else corrupted
    chosen = chosen or corrupted  # only held-out corruptions were run: use them
    clean = None
    for sev in results.values():
        if 0 in sev:
            clean = np.array([_value({"c": sev}, "c", 0, task, m) for m in metrics])
            break
    if chosen:
        per_corruption = [np.mean([[_value(results, c, s, task, m) for m in metrics]
                                   for s in sorted(results[c]) if s > 0], axis=0) for c in chosen]
        mpc = np.mean(per_corruption, axis=0)
    else:
        mpc = np.full(len(metrics), np.nan)
    rpc = None
    if clean is not None and chosen:
        with np.errstate(divide="ignore", invalid="ignore"):
            rpc = np.where(clean > 0, mpc / np.where(clean > 0, clean, 1), np.nan)
    table = {c: {s: _value(results, c, s, task, metrics[0]) for s in sorted(results[c])} for c in results}
    return RobustnessSummary(task, metrics, clean, mpc, rpc, chosen, table)


def coco_lines(values: Sequence[float], metrics: Sequence[str] | None = None) -> list[str]:
    """The twelve COCOeval summary lines (``Average Precision (AP) @[ IoU=0.50:0.95 | ...] = 0.xxx``)."""
    metrics = list(metrics or COCO_METRICS)
    lines = []
    for metric, value in zip(metrics, values):
        if metric not in COCO_METRICS:
            lines.append(f"{metric:5} =  {value:0.3f}")
            continue
        ap, iou, area, max_dets = _METRIC_LINES[COCO_METRICS.index(metric)]
        title, kind = ("Average Precision", "(AP)") if ap else ("Average Recall", "(AR)")
        iou_text = "0.50:0.95" if iou is None else f"{iou:0.2f}"
        lines.append(f" {title:<18} {kind} @[ IoU={iou_text:<9} | area={area:>6s} | maxDets={max_dets:>3d} ] = "
                     f"{value:0.3f}")
    return lines


def summary_text(summary: RobustnessSummary, prints: Sequence[str] = ("P", "mPC", "rPC")) -> str:
    """The blocks robustness_eval.py prints: clean performance, mPC and rPC (in the COCO layout)."""
    out = []
    if "P" in prints and summary.clean is not None:
        out += [f"Performance on Clean Data [P] ({summary.task})", *coco_lines(summary.clean, summary.metrics)]
    if not summary.corruptions:
        return "\n".join(out)
    if "mPC" in prints:
        out += [f"Mean Performance under Corruption [mPC] ({summary.task})", *coco_lines(summary.mpc, summary.metrics)]
    if "rPC" in prints and summary.rpc is not None:
        out += [f"Relative Performance under Corruption [rPC] ({summary.task})",
                *coco_lines(summary.rpc, summary.metrics)]
    return "\n".join(out)


def corruption_table(summary: RobustnessSummary) -> Any:
    """A rich table: one row per corruption, its ``metrics[0]`` at each severity and the mean over 1-5."""
    from detcli.evaluation.report import make_table

    severities = sorted({s for row in summary.table.values() for s in row})
    rows = []
    for corruption, row in summary.table.items():
        corrupted = [v for s, v in row.items() if s > 0]
        mean = f"{np.mean(corrupted):.3f}" if corrupted else "-"
        rows.append([corruption.replace("_", " ")] + [f"{row[s]:.3f}" if s in row else "-" for s in severities]
                    + [mean])
    footer = None
    if summary.corruptions:
        footer = [f"mPC ({len(summary.corruptions)} corruptions)"] + [""] * len(severities) + [f"{summary.mpc[0]:.3f}"]
    return make_table(["corruption", *(f"sev {s}" for s in severities), "mean sev>=1"], rows,
                      title=f"{summary.task} {summary.metrics[0]} per corruption and severity", footer=footer)
