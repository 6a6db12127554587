"""What ``det report`` does: gather a finished run into one self-contained HTML page.

From ``WORK_DIR`` (what ``det train`` leaves: the dumped config, ``*.log.json``, checkpoints)
the page shows the config, the loss/learning-rate/metric curves, the test-set metrics with
the per-category table, the error-analysis figure, the best and worst images and the
FLOPs and parameters. The test-set sections run the checkpoint over ``data.test`` (or read
``--results`` from ``det test --out r.pkl``). A section that cannot be made says why on
the page instead of failing the whole report.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detcli.errors import ConfigError, DataError, DetError

_CHECKPOINT_NUMBER = re.compile(r"^(?:epoch|iter)_(\d+)\.pth$")


@dataclass
class RunFiles:
    """The files of one run inside its work dir."""

    work_dir: Path
    log_json: Path | None
    config: Path
    checkpoint: Path | None


@dataclass
class Figure:
    title: str
    png: bytes
    caption: str = ""


@dataclass
class ReportData:
    """Everything the page shows; sections that could not be made are left empty with a note."""

    title: str
    work_dir: str
    config_name: str
    config_text: str
    checkpoint: str | None = None
    headline: list[tuple[str, str]] = field(default_factory=list)
    curves: list[Figure] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    error_analysis: list[dict[str, Any]] = field(default_factory=list)
    best: list[Figure] = field(default_factory=list)
    worst: list[Figure] = field(default_factory=list)
    flops: dict[str, str] | None = None
    score_thr: float = 0.3
    notes: dict[str, str] = field(default_factory=dict)
    generated: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))


# ---------------------------------------------------------------------------------------------
# finding the run's files
# ---------------------------------------------------------------------------------------------
def _latest_checkpoint(work_dir: Path) -> Path | None:
    latest = work_dir / "latest.pth"
    if latest.exists():
        return latest
    numbered = [(int(m.group(1)), p) for p in work_dir.glob("*.pth") if (m := _CHECKPOINT_NUMBER.match(p.name))]
    return max(numbered)[1] if numbered else None


def _config_of(work_dir: Path, log_json: Path | None) -> Path:
    """The config ``det train`` dumped into the work dir (named in the log's meta line when it can be)."""
    if log_json is not None:
        import json

        with open(log_json) as fh:
            try:
                meta = json.loads(fh.readline())
            except json.JSONDecodeError:
                meta = {}
        name = meta.get("exp_name") if isinstance(meta, dict) else None
        if name and (work_dir / name).is_file():
            return work_dir / name
    configs = sorted(work_dir.glob("*.py"))
    if len(configs) == 1:
        return configs[0]
    raise DataError(f"cannot tell which config of {work_dir} the run used ({len(configs)} .py files)",
                    hint="give it with --config")


def find_run_files(work_dir: str | Path, config: str | None = None, checkpoint: str | None = None) -> RunFiles:
    """The newest ``.log.json``, the dumped config and the latest checkpoint of ``work_dir``."""
    work = Path(work_dir)
    if not work.is_dir():
        raise DataError(f"work dir not found: {work}", hint="give the --work-dir of a det train run")
    logs = sorted(work.glob("*.log.json"))
    log_json = logs[-1] if logs else None
    cfg = Path(config) if config else _config_of(work, log_json)
    if not cfg.is_file():
        raise DataError(f"config not found: {cfg}")
    ckpt = Path(checkpoint) if checkpoint else _latest_checkpoint(work)
    if ckpt is not None and not ckpt.exists():
        raise DataError(f"checkpoint not found: {ckpt}")
    return RunFiles(work, log_json, cfg, ckpt)


# ---------------------------------------------------------------------------------------------
# curves
# ---------------------------------------------------------------------------------------------
def _is_metric(key: str) -> bool:
    return bool(re.search(r"(^|_)(mAP|AP\d*|AR)(_|@|$)", key)) and not key.endswith("_val")


def curve_figures(log_json: Path) -> list[Figure]:
    """Training losses per iteration, the learning rate, and the validation metrics per epoch."""
    from matplotlib.ticker import MaxNLocator

    from detcli.tools.log_plot import EPOCH, ITERATION, series_of
    from detcli.tools.log_records import read_json_log
    from detcli.visualization.figures import figure_png, headless_pyplot

    plt = headless_pyplot()
    run = read_json_log(log_json)
    x_unit = ITERATION
    groups = [
        ("Training losses", [k for k in sorted(run.train_keys) if k.startswith("loss")], x_unit),
        ("Learning rate", [k for k in sorted(run.train_keys) if k == "lr" or k.startswith("lr_")], x_unit),
        ("Validation metrics", [k for k in sorted(run.val_keys) if _is_metric(k) and "copypaste" not in k], EPOCH),
    ]
    figures = []
    for title, keys, unit in groups:
        series = [s for k in keys for s in series_of(run, k, unit, k) if s.mode == ("val" if unit == EPOCH else "train")]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for s in series:
            # COCO logs -1 for an area range without objects: a missing point, not a value
            y = [v if not (unit == EPOCH and v < 0) else float("nan") for v in s.y]
            ax.plot(s.x, y, linewidth=1.2, label=s.key, marker="o" if unit == EPOCH else None, markersize=4)
        ax.set(xlabel=unit, title=title)
        if unit == EPOCH:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            epochs = [x for s in series for x in s.x]
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)  # one evaluated epoch stays readable
        ax.grid(alpha=0.3)
        if len(series) > 1 or unit == EPOCH:
            ax.legend(fontsize="small", ncol=2)
        fig.tight_layout()
        figures.append(Figure(title, figure_png(fig)))
    return figures


def final_val_metrics(log_json: Path) -> dict[str, float]:
    """The last epoch's validation metrics as logged (what the run reported while training)."""
    from detcli.tools.log_records import read_json_log

    run = read_json_log(log_json)
    for record in reversed(run.val):
        found = {k: float(v) for k, v in record.items() if _is_metric(k) and isinstance(v, (int, float))}
        if found:
            return found
    return {}


# ---------------------------------------------------------------------------------------------
# test-set sections
# ---------------------------------------------------------------------------------------------
def run_model(config: str, checkpoint: str, device: str | None, cfg_options: dict[str, Any]) -> list:
    """The checkpoint's results on ``data.test`` (what ``det test --out`` would save)."""
    from detcli.apis import single_gpu_test
    from detcli.data import build_dataset
    from detcli.tools.test_runner import (
        TestOptions,
        build_model,
        build_test_loader,
        pick_device,
        prepare_config,
    )

    opts = TestOptions(config, checkpoint, cfg_options=cfg_options, device=device)
    cfg = prepare_config(opts)
    dataset = build_dataset(cfg.data.test)
    model = build_model(cfg, opts, dataset, pick_device(opts))
    return single_gpu_test(model, build_test_loader(cfg, dataset))


def metric_tables(dataset: Any, outputs: list, tasks: list[str]) -> dict[str, dict[str, Any]]:
    """Per task: the twelve COCO figures and AP / AP50 / AP75 of every category."""
    from detcli.evaluation.coco_eval import per_class_ap
    from detcli.evaluation.coco_summary import run_coco_eval, stats_of

    tables = {}
    for task, coco_eval in run_coco_eval(dataset, outputs, tasks).items():
        names = [dataset.coco.loadCats(int(c))[0]["name"] for c in dataset.cat_ids]
        per_class = per_class_ap(coco_eval) if coco_eval is not None else np.full((len(names), 3), np.nan)
        tables[task] = {
            "stats": stats_of(coco_eval),
            "classwise": [(n, *(None if np.isnan(v) else float(v) for v in row)) for n, row in zip(names, per_class)],
        }
    return tables


def error_analysis_section(dataset: Any, outputs: list, tasks: list[str], tmp: Path) -> list[dict[str, Any]]:
    """The all-categories error-analysis figure (all areas) and its areas under the curves, per task."""
    from detcli.evaluation.coco_format import results_to_coco_json
    from detcli.evaluation.coco_summary import load_detections
    from detcli.evaluation.error_analysis import analyze_errors
    from detcli.tools.error_plots import plot_curves

    entries = results_to_coco_json(outputs, dataset.img_ids, dataset.cat_ids)
    sections = []
    for task in tasks:
        if not entries.get(task):
            raise DataError(f"the model detected nothing on the test set ({task}): there are no errors to break down")
        analysis = analyze_errors(dataset.coco, load_detections(dataset.coco, entries[task], task), task)
        files = plot_curves(analysis, tmp / task, None)
        rows = [r for r in analysis.table() if r["category"] == "allclass"]
        sections.append({"task": task, "figure": Figure(f"{task} errors", Path(files[0]).read_bytes()),
                         "rows": rows})
    return sections


def best_and_worst(config: str, outputs: list, topk: int, cfg_options: dict[str, Any], tmp: Path,
                   score_thr: float = 0.3) -> tuple[list[Figure], list[Figure]]:
    """The ``topk`` best and worst images by their own mAP, ground truth above detections."""
    from detcli.tools.analyze_results import build_test_set, draw_images, pick_best_and_worst, rank_images

    dataset = build_test_set(config, cfg_options)
    good, bad = pick_best_and_worst(rank_images(dataset, outputs), topk)
    figures = []
    for picked, folder in ((good[::-1], "good"), (bad, "bad")):
        files = draw_images(dataset, outputs, picked, tmp / folder, score_thr=score_thr)
        figures.append([Figure(dataset.data_infos[i]["filename"], Path(f).read_bytes(), f"mAP {s:.3f}")
                        for (i, s), f in zip(picked, files)])
    return figures[0], figures[1]


def flops_input_shape(cfg: Any) -> tuple[int, int] | None:
    """(H, W) of the test pipeline's ``img_scale`` (its long side as the width), if it has one."""

    def find(steps: Any) -> Any:
        for step in steps or []:
            if isinstance(step, dict):
                if step.get("img_scale") is not None:
                    return step["img_scale"]
                found = find(step.get("transforms"))
                if found is not None:
                    return found
        return None

    test = cfg.data.test[0] if isinstance(cfg.data.test, list) else cfg.data.test
    scale = find(test.get("pipeline"))
    if isinstance(scale, list) and scale and isinstance(scale[0], (list, tuple)):
        scale = scale[0]
    if not isinstance(scale, (list, tuple)) or len(scale) != 2:
        return None
    return int(min(scale)), int(max(scale))


def flops_section(config: str, cfg_options: dict[str, Any]) -> dict[str, str]:
    from detcli.config import load_config
    from detcli.tools.flops import format_flops, format_params, run_flops

    shape = flops_input_shape(load_config(config, cfg_options))
    report = run_flops(config, list(shape) if shape else None, cfg_options)
    return {"flops": format_flops(report.flops), "params": format_params(report.params),
            "input": "x".join(str(v) for v in report.input_shape[1:]), "forward": report.dummy_forward}


# ---------------------------------------------------------------------------------------------
# the whole report
# ---------------------------------------------------------------------------------------------
def _note(data: ReportData, section: str, err: DetError) -> None:
    data.notes[section] = str(err)


def collect_report(files: RunFiles, results: str | None = None, topk: int = 3, device: str | None = None,
                   cfg_options: dict[str, Any] | None = None, with_flops: bool = True,
                   score_thr: float = 0.3) -> ReportData:
    """Everything the page shows; a section that fails with a DetError becomes a note."""
    from detcli.config import load_config
    from detcli.data import build_dataset
    from detcli.tools.eval_metric import load_results

    cfg_options = dict(cfg_options or {})
    config = str(files.config)
    data = ReportData(title=files.work_dir.resolve().name, work_dir=str(files.work_dir), config_name=files.config.name,
                      config_text=files.config.read_text(),
                      checkpoint=files.checkpoint.name if files.checkpoint else None)
    if files.log_json is not None:
        data.curves = curve_figures(files.log_json)
        data.headline += [(f"last val {k}", f"{v:.3f}") for k, v in final_val_metrics(files.log_json).items()
                          if k.endswith("mAP")]
    else:
        data.notes["curves"] = f"no .log.json in {files.work_dir}"

    outputs = None
    if results is not None:
        outputs = load_results(results)
    elif files.checkpoint is not None:
        outputs = run_model(config, str(files.checkpoint), device, cfg_options)
    else:
        for section in ("metrics", "errors", "images"):
            data.notes[section] = f"no checkpoint in {files.work_dir} (give --checkpoint or --results)"
    if outputs is not None:
        cfg = load_config(config, cfg_options)
        if isinstance(cfg.data.test, list):
            raise ConfigError(f"{config}: data.test is a list of datasets; the report takes one")
        cfg.data.test.test_mode = True
        cfg.data.test.pop("samples_per_gpu", None)
        dataset = build_dataset(cfg.data.test)
        tasks = ["bbox", "segm"] if outputs and isinstance(outputs[0], tuple) else ["bbox"]
        with tempfile.TemporaryDirectory() as tmp:
            if hasattr(dataset, "coco"):
                try:
                    data.metrics = metric_tables(dataset, outputs, tasks)
                except DetError as err:
                    _note(data, "metrics", err)
                try:
                    data.error_analysis = error_analysis_section(dataset, outputs, tasks, Path(tmp))
                except DetError as err:
                    _note(data, "errors", err)
            else:
                data.notes["metrics"] = data.notes["errors"] = (
                    f"the test set is a {type(dataset).__name__}: COCO figures need a COCO-style dataset")
            try:
                data.best, data.worst = best_and_worst(config, outputs, topk, cfg_options, Path(tmp), score_thr)
                data.score_thr = score_thr
            except DetError as err:
                _note(data, "images", err)
        for task, table in data.metrics.items():
            data.headline.append((f"test {task} AP", f"{table['stats']['AP']:.3f}"))
    if with_flops:
        try:
            data.flops = flops_section(config, cfg_options)
            data.headline += [("params", data.flops["params"]), ("FLOPs", data.flops["flops"])]
        except DetError as err:
            _note(data, "flops", err)
    return data


def write_report(work_dir: str, out: str | None = None, config: str | None = None, checkpoint: str | None = None,
                 results: str | None = None, topk: int = 3, device: str | None = None,
                 cfg_options: dict[str, Any] | None = None, with_flops: bool = True, score_thr: float = 0.3) -> str:
    """``det report``: write the page (default ``WORK_DIR/report.html``) atomically; returns its path."""
    from detcli.atomic_write import write_text_atomic
    from detcli.tools.report_html import render_report

    files = find_run_files(work_dir, config, checkpoint)
    data = collect_report(files, results=results, topk=topk, device=device, cfg_options=cfg_options,
                          with_flops=with_flops, score_thr=score_thr)
    target = Path(out) if out else files.work_dir / "report.html"
    write_text_atomic(render_report(data), target)
    print(f"wrote {target}")
    return str(target)
