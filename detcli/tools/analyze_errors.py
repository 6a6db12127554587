"""What ``det analyze-errors`` does: break a model's COCO AP down into the errors that cost it.

Inputs are the COCO result json that ``det test --format-only`` (or ``--out r.json``) writes,
or the results ``.pkl`` of ``det test --out r.pkl`` together with its config. Outputs, per
result type, in ``OUT_DIR/<type>/``: the stacked PR-area figures of every category and of all
of them (``allclass``), and ``OUT_DIR/error_analysis.json`` with the areas under the curves.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detcli.errors import ConfigError, DataError
from detcli.evaluation.coco_summary import load_detections
from detcli.evaluation.error_analysis import (
    AREA_NAMES,
    CURVES,
    IOU_TYPES,
    ErrorAnalysis,
    analyze_errors,
    area_ranges_from,
)


@dataclass
class ErrorAnalysisInputs:
    """The ground truth (a pycocotools COCO) and the COCO-style detections of each result type."""

    coco_gt: Any
    detections: dict[str, list[dict]]
    source: str


def _read_json(path: Path, what: str) -> Any:
    try:
        with open(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not a readable {what}: {err}") from None


def _coco_from_file(path: str | Path) -> Any:
    from detcli.data.datasets.coco_api import COCO, check_coco_dict

    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotation file not found: {path}", hint="give the COCO json of the tested images with --ann")
    data = _read_json(path, "COCO annotation file")
    check_coco_dict(data, str(path))
    return COCO(data)


def _sibling(path: Path, kind: str) -> Path | None:
    """``x.bbox.json`` -> ``x.segm.json`` (the two files ``det test --format-only`` writes)."""
    for other in IOU_TYPES:
        if path.name.endswith(f".{other}.json"):
            return path.with_name(path.name[: -len(f".{other}.json")] + f".{kind}.json")
    return None


def _detections_from_json(path: Path, types: list[str]) -> dict[str, list[dict]]:
    detections = _read_json(path, "COCO results file")
    if not isinstance(detections, list) or any(not isinstance(d, dict) for d in detections[:1]):
        raise DataError(f"{path} is not a COCO results file: expected a list of detections",
                        hint="give the .bbox.json/.segm.json of det test --format-only or det test --out r.json")
    out = {}
    has_masks = bool(detections) and "segmentation" in detections[0]
    for kind in types:
        if kind == "segm" and not has_masks:
            other = _sibling(path, "segm")
            if other is None or not other.is_file():
                raise DataError(f"{path} holds no masks for --types segm",
                                hint="give the .segm.json file (det test --format-only writes it for mask models)")
            out[kind] = _read_json(other, "COCO results file")
        else:
            out[kind] = detections
    return out


def _test_dataset(config: str, cfg_options: dict[str, Any] | None) -> Any:
    from detcli.config import load_config
    from detcli.data import build_dataset

    cfg = load_config(config, cfg_options or {})
    test = cfg.data.test
    if isinstance(test, list):
        raise ConfigError(f"{config}: data.test is a list of datasets; the error analysis takes one",
                          hint="pick one with --cfg-options, or give its --ann and a results json")
    test.test_mode = True
    test.pop("samples_per_gpu", None)
    dataset = build_dataset(test)
    if not hasattr(dataset, "coco"):
        raise ConfigError(f"{config}: the test set is a {type(dataset).__name__}, not a COCO-style dataset",
                          hint="the error analysis scores with COCOeval: convert the annotations to COCO json")
    return dataset


def load_inputs(results: str, types: list[str], ann: str | None = None, config: str | None = None,
                cfg_options: dict[str, Any] | None = None) -> ErrorAnalysisInputs:
    """Ground truth and detections from a results json (+ ``ann`` or ``config``) or a ``.pkl`` + ``config``."""
    path = Path(results)
    if not path.is_file():
        raise DataError(f"results file not found: {path}",
                        hint="write one with det test CONFIG CKPT --format-only (json) or --out r.pkl")
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        if config is None:
            raise ConfigError(f"{path} is a results pickle: give its --config too",
                              hint="det analyze-errors results.pkl OUT_DIR --config CONFIG")
        from detcli.evaluation.coco_format import check_results_fit, results_to_coco_json
        from detcli.tools.eval_metric import load_results

        dataset = _test_dataset(config, cfg_options)
        coco_gt = _coco_from_file(ann) if ann else dataset.coco
        outputs = load_results(path)
        check_results_fit(dataset, outputs)
        entries = results_to_coco_json(outputs, dataset.img_ids, dataset.cat_ids)
        missing = [t for t in types if t not in entries]
        if missing:
            raise DataError(f"{path} has no {missing[0]} results (it holds {', '.join(entries)})",
                            hint="segm needs a model with masks; use --types bbox")
        return ErrorAnalysisInputs(coco_gt, {t: entries[t] for t in types}, str(path))
    if suffix != ".json":
        raise DataError(f"{path} is neither a COCO results .json nor a results .pkl")
    if ann is None and config is None:
        raise ConfigError("a results json needs the annotations it was tested on: give --ann ANN.json or --config",
                          hint="det analyze-errors results.bbox.json OUT_DIR --ann data/coco/annotations/instances_val2017.json")
    coco_gt = _coco_from_file(ann) if ann else _test_dataset(config, cfg_options).coco
    return ErrorAnalysisInputs(coco_gt, _detections_from_json(path, types), str(path))


def gt_area_counts(coco_gt: Any, area_ranges: list[tuple[float, float]]) -> dict[str, int]:
    """Non-crowd ground-truth objects per area range (ends included, as COCOeval counts them)."""
    areas = np.array([a["area"] for a in coco_gt.dataset["annotations"] if not a.get("iscrowd", 0)], dtype=np.float64)
    return {name: int(((areas >= lo) & (areas <= hi)).sum()) for name, (lo, hi) in zip(AREA_NAMES, area_ranges)}


def write_figures(analysis: ErrorAnalysis, out_dir: Path, extraplots: bool, coco_gt: Any) -> list[str]:
    from detcli.tools import error_plots

    written = []
    for k in [*range(len(analysis.cat_ids)), None]:
        written += error_plots.plot_curves(analysis, out_dir, k)
        if extraplots:
            written.append(error_plots.plot_bars(analysis, out_dir, k))
    if extraplots:
        written.append(error_plots.plot_gt_area_counts(gt_area_counts(coco_gt, analysis.area_ranges), out_dir))
        written.append(error_plots.plot_gt_area_histogram(
            np.array([a["area"] for a in coco_gt.dataset["annotations"]], dtype=np.float64), out_dir))
    return written


def auc_table(rows: list[dict[str, Any]], iou_type: str) -> Any:
    from detcli.evaluation.report import make_table

    body = [[r["category"], r["area"], *(f"{r[c]:.3f}" for c in CURVES)] for r in rows if r["type"] == iou_type]
    return make_table(["category", "area", *CURVES], body, title=f"{iou_type}: area under each PR curve")


def run_analyze_errors(results: str, out_dir: str, types: list[str] | None = None, ann: str | None = None,
                       config: str | None = None, extraplots: bool = False, areas: list[float] | None = None,
                       cfg_options: dict[str, Any] | None = None, as_json: bool = False) -> dict[str, Any]:
    """``det analyze-errors``: figures under ``out_dir/<type>/``, the AUC table printed and in
    ``out_dir/error_analysis.json``; returns that json's content."""
    from detcli.atomic_write import dump_json_atomic
    from detcli.evaluation.report import emit

    types = list(dict.fromkeys(types or ["bbox"]))
    for kind in types:
        if kind not in IOU_TYPES:
            raise ConfigError(f"--types {kind!r} is not a result type the error analysis knows",
                              hint="use bbox, segm or both")
    area_ranges_from(areas)  # fail on bad --areas before the slow part
    inputs = load_inputs(results, types, ann=ann, config=config, cfg_options=cfg_options)
    out = Path(out_dir)
    summary: dict[str, Any] = {"results": inputs.source, "types": types, "curves": list(CURVES),
                               "areas": list(AREA_NAMES), "rows": [], "figures": {}}
    for kind in types:
        coco_dt = load_detections(inputs.coco_gt, inputs.detections[kind], kind)
        analysis = analyze_errors(inputs.coco_gt, coco_dt, kind, areas)
        summary["area_ranges"] = [list(r) for r in analysis.area_ranges]
        summary["rows"] += analysis.table()
        figures = write_figures(analysis, out / kind, extraplots, inputs.coco_gt)
        summary["figures"][kind] = [str(Path(f).relative_to(out)) for f in figures]
        if not as_json:
            emit(auc_table(summary["rows"], kind))
            print(f"{len(figures)} figures in {out / kind}", file=sys.stderr)
    dump_json_atomic(summary, out / "error_analysis.json")
    if as_json:
        print(json.dumps(summary))
    return summary
