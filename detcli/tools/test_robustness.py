"""What ``det test-robustness`` does: test a detector on corrupted copies of its test set.

For each corruption and severity the test pipeline gets a ``Corrupt`` step right after the
image is loaded (the ``imagecorruptions`` package does the corrupting), the model is run and
scored with COCOeval, and the figures are added to the results file (``--out``), which is
rewritten atomically after every run. Started again with the same ``--out``, a run that was
stopped continues with the corruptions and severities not yet in the file. Severity 0 (the
clean images) is tested once and shared by every corruption, as mmdetection does.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detcli.atomic_write import atomic_open
from detcli.errors import ConfigError, DataError
from detcli.evaluation.robustness import (
    corruption_table,
    corruptions_from,
    summarize,
    summary_text,
)

EVAL_TYPES = ("bbox", "segm")


@dataclass
class RobustnessOptions:
    config: str
    checkpoint: str
    corruptions: list[str] = field(default_factory=lambda: ["benchmark"])
    severities: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    eval: list[str] = field(default_factory=lambda: ["bbox"])
    out: str | None = None
    cfg_options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    seed: int = 0
    final_prints: list[str] = field(default_factory=lambda: ["P", "mPC", "rPC"])
    aggregate: str = "benchmark"


def load_results_file(path: str | os.PathLike) -> dict:
    """The results of an earlier (maybe stopped) run, read without running code from the file."""
    from detcli.data.safe_pickle import load_pickle

    data = load_pickle(path, what="robustness results file")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path} is not a robustness results file ({{corruption: {{severity: ...}}}})",
                        hint="give another --out; det test --out writes a different kind of .pkl")
    return data


def save_results_file(results: dict, path: str | os.PathLike) -> None:
    """Write ``results`` through a temp file and a rename: a stopped run never leaves half a file."""
    with atomic_open(path, "wb") as fh:
        pickle.dump(results, fh, protocol=4)


def check_options(opts: RobustnessOptions) -> None:
    if opts.out is not None and not opts.out.endswith((".pkl", ".pickle")):
        raise ConfigError(f"--out must end in .pkl or .pickle, got {opts.out}",
                          hint="the results file is the {corruption: {severity: metrics}} pickle mmdetection writes")
    bad = [t for t in opts.eval if t not in EVAL_TYPES]
    if bad:
        raise ConfigError(f"--eval {bad[0]!r} is not supported by the robustness benchmark",
                          hint="use bbox, segm or both")
    bad_sev = [s for s in opts.severities if not 0 <= s <= 5]
    if bad_sev or not opts.severities:
        raise ConfigError(f"severities run from 0 (clean) to 5, got {opts.severities}", hint="e.g. --severities 0 3")


def planned_runs(corruptions: list[str], severities: list[int]) -> list[tuple[str, int]]:
    """(corruption, severity) pairs to test; severity 0 only once (for the first corruption)."""
    if corruptions == ["None"]:
        return [("None", 0)]
    runs = []
    for i, corruption in enumerate(corruptions):
        for severity in dict.fromkeys(severities):
            if severity == 0 and i > 0:
                continue
            runs.append((corruption, severity))
    return runs


def _clean_entry(results: dict) -> Any:
    for sev in results.values():
        if 0 in sev:
            return sev[0]
    return None


def _is_done(results: dict, corruption: str, severity: int, tasks: list[str]) -> bool:
    entry = _clean_entry(results) if severity == 0 else results.get(corruption, {}).get(severity)
    return isinstance(entry, dict) and all(t in entry for t in tasks)


def corrupted_test_config(test_cfg: Any, corruption: str, severity: int) -> Any:
    """``data.test`` with ``Corrupt`` right after the image loading step (severity 0: unchanged)."""
    cfg = copy.deepcopy(test_cfg)
    if severity == 0 or corruption == "None":
        return cfg
    steps = list(cfg.pipeline)
    at = next((i + 1 for i, s in enumerate(steps) if str(s.get("type", "")).startswith("LoadImage")), 1)
    steps.insert(at, dict(type="Corrupt", corruption=corruption, severity=severity))
    cfg.pipeline = steps
    return cfg


def coco_stats(dataset: Any, outputs: list, tasks: list[str]) -> dict[str, dict[str, float]]:
    """The twelve COCOeval figures (AP ... ARl) of each task; VOC-style sets give AP50 (mAP at IoU 0.5)."""
    from detcli.evaluation.coco_summary import run_coco_eval, stats_of

    if not hasattr(dataset, "coco"):
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = dataset.evaluate(outputs, metric="mAP", logger="silent")
        return {"bbox": {"AP50": float(metrics["mAP"])}}
    return {task: stats_of(coco_eval) for task, coco_eval in run_coco_eval(dataset, outputs, tasks).items()}


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _previous_results(opts: RobustnessOptions, runs: list[tuple[str, int]]) -> dict:
    """What an earlier run with the same ``--out`` already measured (empty without one)."""
    if not opts.out:
        print("note: without --out nothing is kept; a stopped benchmark starts over")
        return {}
    if not Path(opts.out).is_file():
        return {}
    results = load_results_file(opts.out)
    done = [r for r in runs if _is_done(results, *r, opts.eval)]
    if done:
        print(f"continuing {opts.out}: {len(done)} of {len(runs)} runs already done (delete the file to start over)")
    return results


def _print_summary(results: dict, opts: RobustnessOptions) -> None:
    from detcli.evaluation.report import emit

    print("\nAggregated results:")
    first_entry = next(iter(next(iter(results.values())).values()))
    for task in opts.eval:
        if task not in first_entry:  # a VOC-style set reports bbox AP50 only
            continue
        summary = summarize(results, task, list(first_entry[task]), opts.aggregate)
        print(summary_text(summary, opts.final_prints))
        emit(corruption_table(summary))


def run_test_robustness(opts: RobustnessOptions) -> dict:
    """Run the benchmark (continuing from ``opts.out`` when it exists); returns the results of
    this run's corruptions, ``{corruption: {severity: {task: {metric: value}}}}``."""
    import torch

    from detcli.apis import single_gpu_test
    from detcli.data import build_dataset
    from detcli.tools.test_runner import (
        TestOptions,
        build_model,
        build_test_loader,
        pick_device,
        prepare_config,
    )

    check_options(opts)
    corruptions = corruptions_from(opts.corruptions)
    runs = planned_runs(corruptions, opts.severities)
    if any(sev > 0 for _, sev in runs):  # fail before loading anything when the package is missing
        from detcli.data.pipelines import Corrupt

        Corrupt(corruption=runs[-1][0], severity=1)
    results = _previous_results(opts, runs)
    test_opts = TestOptions(opts.config, opts.checkpoint, cfg_options=opts.cfg_options, device=opts.device)
    cfg = prepare_config(test_opts)
    if isinstance(cfg.data.test, list):
        raise ConfigError(f"{opts.config}: data.test is a list of datasets; the benchmark takes one")
    device = pick_device(test_opts)
    model = None
    for corruption, severity in runs:
        if _is_done(results, corruption, severity, opts.eval):
            continue
        print(f"\nTesting {corruption} at severity {severity}")
        dataset = build_dataset(corrupted_test_config(cfg.data.test, corruption, severity))
        if model is None:
            model = build_model(cfg, test_opts, dataset, device)
        _seed(opts.seed)  # the same corrupted images whether or not the run was resumed
        loader = build_test_loader(cfg, dataset, samples_per_gpu=1, seed=opts.seed)
        with torch.no_grad():
            stats = coco_stats(dataset, single_gpu_test(model, loader), opts.eval)
        results.setdefault(corruption, {})[severity] = stats
        task, figures = next(iter(stats.items()))
        metric, value = next(iter(figures.items()))
        print(f"{corruption} severity {severity}: {task} {metric} {value:.4f}")
        if opts.out:
            save_results_file(results, opts.out)
    clean = _clean_entry(results)
    for corruption in corruptions:  # every corruption shows the clean figures as its severity 0
        if 0 in opts.severities and clean is not None:
            results.setdefault(corruption, {}).setdefault(0, clean)
    results = {c: dict(sorted(sev.items())) for c, sev in results.items()}
    if opts.out:
        save_results_file(results, opts.out)
    ordered = {c: results[c] for c in corruptions if c in results}
    _print_summary(ordered, opts)
    return ordered
