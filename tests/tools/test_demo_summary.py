"""The closing summary of `make demo`: step times, metrics against the targets, artefact places."""

from __future__ import annotations

import json

from detcli.tools.demo_summary import main, read_steps, summary_lines


def test_steps_metrics_and_places(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "steps.tsv").write_text("data 100.0 112.5\ntrain 112.5 712.5\ntest 712.5 730.0\n")
    (out / "eval_20240101_000000.json").write_text(json.dumps({"metric": {"bbox_mAP": 0.4, "segm_mAP": 0.2}}))
    (out / "eval_20240101_000100.json").write_text(json.dumps({"metric": {"bbox_mAP": 0.612, "segm_mAP": 0.49,
                                                                          "bbox_mAP_50": 0.9}}))
    (out / "images").mkdir()
    assert read_steps(out / "steps.tsv") == [("data", 12.5), ("train", 600.0), ("test", 17.5)]
    text = "\n".join(summary_lines(out, tmp_path / "work"))
    assert "train" in text and "10:00.0" in text  # 600 s
    assert "total" in text and "10:30.0" in text and "within the 15-minute budget" in text
    # the newest eval file wins; each metric is judged against its own target
    assert "bbox_mAP     0.612   (target >= 0.60: ok)" in text
    assert "segm_mAP     0.490   (target >= 0.50: BELOW TARGET)" in text
    assert "bbox_mAP_50  0.900" in text
    assert f"{out / 'images'}/" in text and f"{out / 'video'}/" in text and "(missing)" in text
    assert main([str(out), str(tmp_path / "work")]) == 0
    assert "demo summary" in capsys.readouterr().out


def test_over_budget_and_no_metrics(tmp_path):
    (tmp_path / "steps.tsv").write_text("train 0 1000\n")
    text = "\n".join(summary_lines(tmp_path, tmp_path / "w"))
    assert "OVER the 15-minute budget" in text and "bbox_mAP" not in text
