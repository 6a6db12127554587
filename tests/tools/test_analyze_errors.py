"""``det analyze-errors``: figures and table from a COCO results json or a results .pkl with its config."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from detcli.cli import main
from detcli.errors import ConfigError, DataError
from detcli.evaluation.coco_summary import load_detections
from detcli.evaluation.error_analysis import CURVES, analyze_errors
from detcli.tools.analyze_errors import load_inputs, run_analyze_errors

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "error_analysis"
CATEGORIES = ["cat", "dog", "car", "bus"]
AREAS = ["allarea", "small", "medium", "large"]


def test_cli_writes_mmdetections_figures_and_the_table(tmp_path, capsys):
    # a .bbox.json given with --types segm: the masks come from the .segm.json next to it
    out = tmp_path / "out"
    assert main(["analyze-errors", str(FIXTURES / "results.bbox.json"), str(out), "--ann", str(FIXTURES / "gt.json"),
                 "--types", "segm", "--extraplots"]) == 0
    names = {p.name for p in (out / "segm").iterdir()}
    expected = {f"segm-{c}-{a}.png" for c in [*CATEGORIES, "allclass"] for a in AREAS}
    expected |= {f"segm-{c}-ap bar plot.png" for c in [*CATEGORIES, "allclass"]}
    expected |= {"number of annotations per area group.png", "gt annotation areas histogram plot.png"}
    assert names == expected
    image = cv2.imread(str(out / "segm" / "segm-allclass-allarea.png"))
    assert image is not None and image.shape[2] == 3 and image.std() > 10
    saved = json.loads((out / "error_analysis.json").read_text())
    assert saved["types"] == ["segm"] and sorted(saved["figures"]["segm"]) == sorted(f"segm/{n}" for n in names)
    reference = [r for r in json.loads((FIXTURES / "reference.json").read_text())["rows"] if r["type"] == "segm"]
    ours = {(r["category"], r["area"]): r for r in saved["rows"]}
    for ref in reference:
        row = ours[(ref["category"], ref["area"])]
        assert [row[c] for c in CURVES] == pytest.approx([ref[c] for c in CURVES], abs=1e-12)
    printed = capsys.readouterr().out
    overall = ours[("allclass", "allarea")]
    assert "segm: area under each PR curve" in printed
    assert f"{overall['C50']:.3f}" in printed and f"{overall['Loc']:.3f}" in printed


def _noisy_results(tiny_run) -> list:
    """Per image of the tiny run's test set: its objects found (every other one shifted by a third
    of its size) and one box on the background."""
    from detcli.tools.analyze_results import build_test_set

    dataset = build_test_set(str(tiny_run.config))
    results = []
    for i in range(len(dataset)):
        ann = dataset.get_ann_info(i)
        per_class = [np.zeros((0, 5), np.float32) for _ in dataset.CLASSES]
        for j, (box, label) in enumerate(zip(ann["bboxes"], ann["labels"])):
            shift = (box[2] - box[0]) / 3 if j % 2 else 0.0
            row = np.array([[box[0] + shift, box[1], box[2] + shift, box[3], 0.9 - 0.1 * j]], np.float32)
            per_class[label] = np.vstack([per_class[label], row])
        per_class[0] = np.vstack([per_class[0], np.array([[0, 0, 6, 6, 0.95]], np.float32)])
        results.append(per_class)
    return results


def test_pkl_with_config_equals_the_json_det_writes_for_it(tiny_run, tmp_path):
    pkl = tmp_path / "r.pkl"
    pkl.write_bytes(pickle.dumps(_noisy_results(tiny_run)))
    assert main(["eval-metric", str(tiny_run.config), str(pkl), "--format-only", "--eval-options",
                 f"jsonfile_prefix={tmp_path / 'r'}"]) == 0

    def table(results: str) -> list[dict]:
        inputs = load_inputs(results, ["bbox"], config=str(tiny_run.config))
        coco_dt = load_detections(inputs.coco_gt, inputs.detections["bbox"], "bbox")
        return analyze_errors(inputs.coco_gt, coco_dt, "bbox").table()

    from_pkl = table(str(pkl))
    assert from_pkl == table(str(tmp_path / "r.bbox.json"))
    overall = next(r for r in from_pkl if r["category"] == "allclass" and r["area"] == "allarea")
    # shifted boxes are localisation errors, the background boxes cost until BG
    assert overall["C75"] < overall["Loc"] and overall["Oth"] < overall["BG"] == pytest.approx(overall["FN"])


def test_inputs_that_cannot_work_are_one_line_errors(tiny_run, tmp_path):
    pkl = tmp_path / "r.pkl"
    pkl.write_bytes(pickle.dumps(_noisy_results(tiny_run)))
    with pytest.raises(ConfigError, match="give its --config"):
        run_analyze_errors(str(pkl), str(tmp_path / "o"))
    with pytest.raises(ConfigError, match="--ann ANN.json or --config"):
        run_analyze_errors(str(FIXTURES / "results.bbox.json"), str(tmp_path / "o"))
    with pytest.raises(DataError, match="has no segm results"):
        run_analyze_errors(str(pkl), str(tmp_path / "o"), types=["segm"], config=str(tiny_run.config))
    lone = tmp_path / "lone.json"
    lone.write_text((FIXTURES / "results.bbox.json").read_text())
    with pytest.raises(DataError, match="holds no masks"):
        run_analyze_errors(str(lone), str(tmp_path / "o"), types=["segm"], ann=str(FIXTURES / "gt.json"))
    with pytest.raises(ConfigError, match="--types 'keypoints'"):
        run_analyze_errors(str(lone), str(tmp_path / "o"), types=["keypoints"], ann=str(FIXTURES / "gt.json"))
    with pytest.raises(DataError, match="results file not found"):
        run_analyze_errors(str(tmp_path / "missing.json"), str(tmp_path / "o"), ann=str(FIXTURES / "gt.json"))
