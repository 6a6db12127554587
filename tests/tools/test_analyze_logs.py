"""``det analyze-logs``: the mmdetection 2.28 log, a real ``det train`` log, and the logs that break
log tools (resumed, crashed, missing epochs, sparse evaluation, iteration-based runs)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detcli.cli import main
from detcli.tools.analyze_logs import run_cal_train_time, run_plot, train_time
from detcli.tools.log_records import read_json_log

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "mmdet228_mask_rcnn_r18_fpn.log.json"


def fixture_lines() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()[1:]]


def write_log(path: Path, records: list[dict | str], meta: dict | None = None) -> Path:
    lines = [json.dumps(meta or {"env_info": "test", "config": "runner = dict(type='EpochBasedRunner')"})]
    lines += [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def train(epoch, it, time=1.0, loss=1.0, **extra):
    return dict(mode="train", epoch=epoch, iter=it, lr=0.01, time=time, data_time=0.01, loss=loss, **extra)


def val(epoch, it=5, **metrics):
    return dict(mode="val", epoch=epoch, iter=it, lr=0.01, **metrics)


# -- cal-train-time -------------------------------------------------------------------------------
# Produced by mmdetection 2.28.2's own tools/analysis_tools/analyze_logs.py (cal_train_time, with and
# without --include-outliers) on tests/fixtures/logs/mmdet228_mask_rcnn_r18_fpn.log.json.
MMDET_228_TRAIN_TIME = """slowest epoch 3, average time is 1.8863
fastest epoch 6, average time is 1.7176
time std over epochs is 0.0520
average iter time: 1.7997 s/iter"""
MMDET_228_TRAIN_TIME_WITH_OUTLIERS = """slowest epoch 2, average time is 1.9763
fastest epoch 1, average time is 1.7748
time std over epochs is 0.0818
average iter time: 1.8754 s/iter"""


def test_cal_train_time_prints_what_mmdetection_prints_on_its_own_log(capsys):
    assert main(["analyze-logs", "cal-train-time", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert out == f"-----Analyze train time of {FIXTURE}-----\n{MMDET_228_TRAIN_TIME}\n\n"
    assert main(["analyze-logs", "cal_train_time", str(FIXTURE), "--include-outliers"]) == 0  # mmdet's spelling
    assert MMDET_228_TRAIN_TIME_WITH_OUTLIERS in capsys.readouterr().out


def test_cal_train_time_json_holds_every_epoch(capsys):
    assert main(["analyze-logs", "cal-train-time", str(FIXTURE), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["logs"]
    times = {}
    for d in fixture_lines():
        if d["mode"] == "train":
            times.setdefault(d["epoch"], []).append(d["time"])
    expected = {str(e): float(np.mean(t[1:])) for e, t in times.items()}
    assert result["epoch_times"] == pytest.approx(expected)
    assert (result["slowest_epoch"], result["fastest_epoch"]) == (3, 6)
    assert result["average_iter_time"] == pytest.approx(np.mean([x for t in times.values() for x in t[1:]]))


def test_cal_train_time_on_a_resumed_crashed_uneven_log(tmp_path):
    records = [
        train(1, 10, 3.0), train(1, 20, 1.0), train(1, 30, 1.2),
        train(2, 10, 5.0), train(2, 20, 9.0),                    # crashed here ...
        train(2, 10, 4.0), train(2, 20, 2.0), train(2, 30, 2.2),  # ... resumed from epoch_1.pth
        train(4, 10, 2.5), train(4, 20, 0.9),                    # epoch 3 never logged
        train(5, 10, 7.0),                                       # one line only: nothing once it is left out
        '{"mode": "train", "epoch": 5, "it',                     # cut off by the crash
    ]
    run = read_json_log(write_log(tmp_path / "r.log.json", records))
    t = train_time(run)
    assert t.epoch_times == pytest.approx({1: 1.1, 2: 2.1, 4: 0.9})
    assert (t.slowest_epoch, t.fastest_epoch, t.epochs_without_times) == (2, 4, [5])
    assert t.std_over_epochs == pytest.approx(np.std([1.1, 2.1, 0.9]))
    assert t.average_iter_time == pytest.approx(np.mean([1.0, 1.2, 2.0, 2.2, 0.9]))
    assert any("restarted at epoch 2, iteration 10" in n for n in run.notes)
    assert any("line 13 is cut off" in n for n in run.notes)
    with_outliers = train_time(run, include_outliers=True)
    assert with_outliers.epoch_times[5] == 7.0 and with_outliers.epoch_times[2] == pytest.approx(8.2 / 3)


def test_cal_train_time_without_enough_lines_says_what_to_do(tmp_path, capsys):
    path = write_log(tmp_path / "a.log.json", [train(1, 50), train(2, 50)])
    assert main(["analyze-logs", "cal-train-time", str(path)]) == 1
    err = capsys.readouterr().err
    assert "once each epoch's first line is left out" in err and "--include-outliers" in err
    assert run_cal_train_time([str(path)], include_outliers=True)[0].average_iter_time == 1.0


# -- plot -------------------------------------------------------------------------------------------
def png_is_a_picture(path: Path) -> None:
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 600
    assert img.std() > 10  # not a blank canvas


def test_plot_mmdetection_log_per_global_iteration_and_per_epoch(tmp_path):
    out = tmp_path / "curves.png"
    summary = run_plot([str(FIXTURE)], ["loss_cls", "bbox_mAP"], out=str(out))
    png_is_a_picture(out)
    assert summary["out"] == str(out)
    loss, mAP = summary["series"]
    lines = fixture_lines()
    trains = [d for d in lines if d["mode"] == "train"]
    assert (loss["key"], loss["mode"], loss["x_unit"]) == ("loss_cls", "train", "iteration")
    # 60 is the longest epoch the log shows (no text log next to it): x never restarts at an epoch
    assert loss["x"] == [(d["epoch"] - 1) * 60 + d["iter"] for d in trains]
    assert loss["y"] == [d["loss_cls"] for d in trains]
    # the first epoch's val line has no metric at all: mmdetection's own script fails on this log
    assert (mAP["key"], mAP["mode"], mAP["x_unit"]) == ("bbox_mAP", "val", "epoch")
    assert mAP["x"] == [2, 3, 4, 5, 6]
    assert mAP["y"] == [d["bbox_mAP"] for d in lines if "bbox_mAP" in d]

    later = run_plot([str(FIXTURE)], ["loss_cls", "bbox_mAP"], start_epoch=4, out=str(out))["series"]
    assert later[0]["x"] == [x for x in loss["x"] if x > 3 * 60] and later[1]["x"] == [4, 5, 6]


def test_unknown_key_is_one_line_naming_the_keys_of_the_log(capsys, tmp_path):
    assert main(["analyze-logs", "plot", str(FIXTURE), "--keys", "loss_cls", "mAP", "--out",
                 str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "'mAP'" in line and "loss_cls, loss_mask" in line and "segm_mAP" in line and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_resumed_crashed_sparse_log_plots_the_run_that_happened(tmp_path):
    records = [
        train(1, 10, loss=9.0), train(1, 20, loss=9.0), val(1, bbox_mAP=0.5),
        train(2, 10, loss=9.0),                                   # crashed in epoch 2 ...
        train(2, 10, loss=2.0), train(2, 20, loss=1.5),           # ... resumed: these win
        train(3, 10, loss=1.2), train(3, 20, loss=1.0), val(3, bbox_mAP=0.7),  # evaluated every 2 epochs
        train(5, 10, loss=0.8),                                   # epoch 4 missing, crash mid-epoch 5
    ]
    old = [train(1, 10, loss=3.0), train(1, 20, loss=2.5)]
    path = write_log(tmp_path / "run.log.json", records)
    (tmp_path / "other").mkdir()
    other = write_log(tmp_path / "other" / "run.log.json", old)
    summary = run_plot([str(path), str(other)], ["loss", "bbox_mAP"], out=str(tmp_path / "p.svg"))
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    loss, loss_other, mAP = summary["series"]
    assert loss["x"] == [10, 20, 30, 40, 50, 60, 90] and loss["y"] == [9.0, 9.0, 2.0, 1.5, 1.2, 1.0, 0.8]
    assert loss_other["x"] == [10, 20] and loss_other["y"] == [3.0, 2.5]
    assert (mAP["x"], mAP["y"]) == ([1, 3], [0.5, 0.7])
    # runs in two folders with the same file name are told apart by their folder
    assert [s["label"] for s in summary["logs"]] == [f"{tmp_path.name}/run", "other/run"]


def test_restart_into_an_evaluated_epoch_drops_its_old_metric(tmp_path):
    records = [train(1, 10), val(1, bbox_mAP=0.1), train(2, 10), val(2, bbox_mAP=0.2),
               train(2, 10), val(2, bbox_mAP=0.3)]  # epoch 2 redone from epoch_1.pth
    summary = run_plot([str(write_log(tmp_path / "a.log.json", records))], ["bbox_mAP"], out=str(tmp_path / "a.png"))
    (mAP,) = summary["series"]
    assert (mAP["x"], mAP["y"]) == ([1, 2], [0.1, 0.3])


def test_iteration_based_run_plots_val_at_the_iteration_it_ran(tmp_path):
    meta = {"config": "runner = dict(type='IterBasedRunner', max_iters=40)"}
    records = [train(1, 10), train(1, 20), val(1, bbox_mAP=0.2), train(1, 30), train(2, 40), val(2, bbox_mAP=0.4)]
    summary = run_plot([str(write_log(tmp_path / "it.log.json", records, meta))], ["loss", "bbox_mAP"],
                       out=str(tmp_path / "it.png"))
    loss, mAP = summary["series"]
    assert loss["x"] == [10, 20, 30, 40]
    assert (mAP["x_unit"], mAP["x"], mAP["y"]) == ("iteration", [20, 40], [0.2, 0.4])


def test_det_train_log_keeps_2_28_val_loss_names_and_plots_train_and_val(tiny_run, tmp_path):
    lines = [json.loads(x) for x in tiny_run.json_log.read_text().splitlines()[1:]]
    vals = [d for d in lines if d["mode"] == "val" and "loss_val" in d]
    # mmdetection >= 2.28 (its BaseDetector.val_step) names val-workflow losses <name>_val, mode "val"
    assert [d["epoch"] for d in vals] == [1, 2, 3] and {"loss_cls_val", "loss_bbox_val", "acc_val"} <= set(vals[0])
    assert not any(k in d for d in vals for k in ("loss_cls", "loss"))
    assert "\tloss_rpn_cls_val: " in tiny_run.text_log.read_text()

    out = tmp_path / "loss.png"
    summary = run_plot([str(tiny_run.json_log)], ["loss_cls", "bbox_mAP"], out=str(out))
    png_is_a_picture(out)
    train_s, val_s, mAP = summary["series"]
    assert (train_s["mode"], train_s["x"]) == ("train", [1, 2, 3, 4, 5, 6])  # 2 iterations per epoch
    assert train_s["y"] == [d["loss_cls"] for d in lines if d["mode"] == "train"]
    assert (val_s["mode"], val_s["key"], val_s["x"]) == ("val", "loss_cls_val", [2, 4, 6])  # at each epoch's end
    assert val_s["y"] == [d["loss_cls_val"] for d in vals]
    assert mAP["x"] == [d["epoch"] for d in lines if "bbox_mAP" in d]
    assert summary["logs"][0]["iters_per_epoch"] == 2


def test_val_workflow_losses_under_training_names_as_mmdetection_2_27_and_earlier_log_them(tmp_path):
    records = [train(1, 1, time=1.0, loss=2.0), train(1, 2, time=1.0, loss=1.8),
               val(1, it=3, time=9.0, data_time=0.1, loss=2.5),  # the val epoch's line: its time is no train time
               train(2, 1, time=1.0, loss=1.5), train(2, 2, time=3.0, loss=1.4), val(2, it=3, time=9.0, loss=2.2)]
    path = write_log(tmp_path / "old.log.json", records)
    summary = run_plot([str(path)], ["loss"], out=str(tmp_path / "old.png"))
    train_s, val_s = summary["series"]
    assert (train_s["x"], train_s["y"]) == ([1, 2, 3, 4], [2.0, 1.8, 1.5, 1.4])
    assert (val_s["mode"], val_s["key"], val_s["x"], val_s["y"]) == ("val", "loss", [2, 4], [2.5, 2.2])
    t = train_time(read_json_log(path), include_outliers=True)
    assert t.epoch_times == {1: 1.0, 2: 2.0}


def test_plot_cli_legend_aliases_json_and_default_file(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["analyze-logs", "plot_curve", str(tiny_run.json_log), str(FIXTURE), "--keys", "loss", "acc",
            "--legend", "tiny", "mmdet", "--title", "two runs", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    stem = tiny_run.json_log.name[: -len(".log.json")]
    assert summary["out"] == f"{stem}_loss_acc.png"
    png_is_a_picture(tmp_path / summary["out"])
    assert [(s["key"], s["mode"], s["points"]) for s in summary["series"]] == [
        ("loss", "train", 6), ("loss_val", "val", 3), ("loss", "train", 36),
        ("acc", "train", 6), ("acc_val", "val", 3), ("acc", "train", 36)]

    assert main(["analyze-logs", "plot", str(FIXTURE), "--keys", "loss", "--legend", "a", "b",
                 "--out", "x.png"]) == 1
    assert "--legend got 2 labels for 1 log(s) and 1 key(s)" in capsys.readouterr().err
    assert main(["analyze-logs", "plot", str(FIXTURE), "--keys", "loss", "--out", "x.bmpx"]) == 1
    assert "unknown format 'bmpx'" in capsys.readouterr().err
    assert main(["analyze-logs", "plot", str(FIXTURE), "--keys", "loss", "--backend", "nonsense"]) == 1
    assert "matplotlib backend 'nonsense' cannot be used here" in capsys.readouterr().err
    # a non-interactive backend shows nothing: the figure is saved under the default name
    assert main(["analyze-logs", "plot", str(FIXTURE), "--keys", "loss", "--backend", "agg"]) == 0
    png_is_a_picture(tmp_path / "mmdet228_mask_rcnn_r18_fpn_loss.png")


def test_bad_log_files_are_one_line_each(tmp_path, capsys):
    assert main(["analyze-logs", "plot", str(tmp_path / "missing.log.json")]) == 1
    assert "log file not found" in capsys.readouterr().err
    bad = write_log(tmp_path / "bad.log.json", [train(1, 10), "not json", train(1, 20)])
    assert main(["analyze-logs", "cal-train-time", str(bad)]) == 1
    assert f"{bad}:3 is not a JSON object" in capsys.readouterr().err
