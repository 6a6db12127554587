"""Bad data: unreadable images (in loader workers as in the main process), undefined category ids,
an empty training set, unusable boxes and file names that leave the image folder."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from error_lines import clean_error

from detcli.cli import main
from detcli.data import CocoDataset, CustomDataset
from detcli.errors import DataError

from .conftest import edit_coco, write_config

CLASSES = ("circle", "square", "triangle", "star")


def _break_image(data, split="train", name="000001.png", how="garbage"):
    path = data / split / name
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.write_bytes(b"not a png at all")
    return path


@pytest.mark.parametrize("how", ["garbage", "truncated", "missing"])
@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_training_image_stops_with_file_and_index(how, workers, own_shapes, tmp_path, capsys):
    bad = _break_image(own_shapes, how=how)
    cfg = write_config(tmp_path / "cfg.py", own_shapes)
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w"), "--no-validate",
                                "--cfg-options", f"data.workers_per_gpu={workers}"])
    assert str(bad) in line and "(dataset index " in line
    assert "set data.train.skip_bad_images=True to skip unreadable images" in line
    assert ("in a data loader worker" in line) == (workers > 0)


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_bad_images_trains_and_reports_count_and_paths_each_epoch(workers, own_shapes, tmp_path):
    bad = _break_image(own_shapes, how="truncated")
    cfg = write_config(tmp_path / "cfg.py", own_shapes)
    work = tmp_path / "w"
    assert main(["train", str(cfg), "--work-dir", str(work), "--no-validate", "--seed", "0", "--cfg-options",
                 f"data.workers_per_gpu={workers}", "data.train.skip_bad_images=True", "runner.max_epochs=2"]) == 0
    (log,) = work.glob("*.log")
    reports = [line for line in log.read_text().splitlines() if "had an unreadable image" in line]
    assert [r.split("WARNING - ")[1].split(":")[0] for r in reports] == ["epoch 1", "epoch 2"]
    for report in reports:
        count = int(report.split(": ")[1].split(" ")[0])
        assert count >= 1 and report.endswith(str(bad))  # 4 images, batches of 2: drawn once or more
    ckpt = torch.load(work / "epoch_2.pth", map_location="cpu", weights_only=True)
    assert ckpt["meta"]["iter"] == 4  # every step had a full batch


@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_test_image_stops_or_is_tested_blank_and_reported(workers, own_shapes, trained, tmp_path, capsys,
                                                                     caplog):
    bad = _break_image(own_shapes, split="val", name="000001.png")
    cfg = write_config(tmp_path / "cfg.py", own_shapes)
    args = ["test", str(cfg), str(trained[1]), "--out", str(tmp_path / "r.pkl"), "--cfg-options",
            f"data.workers_per_gpu={workers}"]
    line = clean_error(capsys, args)
    assert str(bad) in line and "set data.test.skip_bad_images=True" in line
    assert not (tmp_path / "r.pkl").exists()

    with caplog.at_level(logging.WARNING, logger="detcli"):
        assert main([*args, "data.test.skip_bad_images=True"]) == 0
    (report,) = [r.getMessage() for r in caplog.records if "unreadable image" in r.getMessage()]
    assert report.startswith("test: 1 sample(s) of") and report.endswith(f"replaced by blank images "
                                                                        f"(skip_bad_images=True): {bad}")
    from detcli.data.safe_pickle import load_pickle

    results = load_pickle(tmp_path / "r.pkl")
    assert len(results) == 2 and all(len(r) == 4 for r in results)  # one entry per image, kept in order


def test_many_undefined_category_ids_fail_unless_allowed(own_shapes, tmp_path, capsys, caplog):
    def unknown_ids(coco):
        for ann in coco["annotations"][:3]:
            ann["category_id"] = 77

    name = edit_coco(own_shapes, "unknown.json", unknown_ids)
    total = len(json.loads((own_shapes / "annotations" / name).read_text())["annotations"])
    cfg = write_config(tmp_path / "cfg.py", own_shapes, train_ann=name)
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w")])
    assert f"3 of {total} annotations in {own_shapes / 'annotations' / name}" in line
    assert "have category ids that its 'categories' does not define (e.g. category_id 77)" in line
    with caplog.at_level(logging.WARNING, logger="detcli"):
        ds = CocoDataset(ann_file=str(own_shapes / "annotations" / name), pipeline=[], classes=CLASSES,
                         allow_unknown_categories=True)
    assert ds.num_ignored_annotations == 3 and "3 annotations in" in caplog.text


def test_empty_training_set_fails_before_training_with_counts(own_shapes, tmp_path, capsys):
    name = edit_coco(own_shapes, "only_stars.json",
                     lambda coco: [a.update(category_id=4) for a in coco["annotations"]])  # 4: star
    cfg = write_config(tmp_path / "cfg.py", own_shapes, "data['train']['classes'] = ('circle', 'square')\n",
                       train_ann=name)
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w")])
    assert line.startswith("error: the training set is empty after filtering: 4 images read from ")
    assert "4 without a usable annotation of the classes (circle, square), 0 smaller than 32 px" in line
    assert not list((tmp_path / "w").glob("*.pth"))
    capsys.readouterr()
    main(["train", str(cfg), "--work-dir", str(tmp_path / "w")])
    assert "hint: set data.train.filter_empty_gt=False" in capsys.readouterr().err


def test_unusable_coco_boxes_are_counted_once_when_the_dataset_is_built(own_shapes, caplog):
    def damage(coco):
        anns = coco["annotations"]
        anns[0]["bbox"][2] = -5.0  # negative width
        anns[1]["bbox"][0] = float("nan")
        anns[2]["bbox"][:2] = [500.0, 500.0]  # fully outside the 64 px image

    name = edit_coco(own_shapes, "boxes.json", damage)
    with caplog.at_level(logging.WARNING, logger="detcli"):
        ds = CocoDataset(ann_file=str(own_shapes / "annotations" / name), pipeline=[], classes=CLASSES)
        for i in range(len(ds)):
            ds.get_ann_info(i)
    lines = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(lines) == 1
    assert "3 of " in lines[0] and "1 NaN/inf coordinates" in lines[0] and "1 zero or negative width/height" in \
        lines[0] and "1 fully outside the image" in lines[0]
    kept = sum(len(ds.get_ann_info(i)["bboxes"]) for i in range(len(ds)))
    assert kept == sum(1 for _ in json.loads((own_shapes / "annotations" / name).read_text())["annotations"]) - 3
    assert all(np.isfinite(ds.get_ann_info(i)["bboxes"]).all() for i in range(len(ds)))


def test_unusable_middle_format_boxes_are_dropped_and_counted(tmp_path, caplog):
    infos = [{"filename": "a.png", "width": 50, "height": 40,
              "ann": {"bboxes": [[1, 1, 10, 10], [20, 5, 10, 30], [float("nan"), 0, 5, 5], [60, 50, 70, 60]],
                      "labels": [0, 1, 2, 3], "bboxes_ignore": [[2, 2, 8, 8], [9, 9, 3, 3]]}}]
    (tmp_path / "mid.json").write_text(json.dumps(infos))
    with caplog.at_level(logging.WARNING, logger="detcli"):
        ds = CustomDataset(ann_file=str(tmp_path / "mid.json"), pipeline=[], classes=("a", "b", "c", "d"),
                           test_mode=True)
    ann = ds.get_ann_info(0)
    np.testing.assert_array_equal(ann["bboxes"], [[1, 1, 10, 10]])
    np.testing.assert_array_equal(ann["labels"], [0])
    assert "4 of 6 boxes in" in caplog.text and "are dropped" in caplog.text  # ignored boxes are checked too
    np.testing.assert_array_equal(ann["bboxes_ignore"], [[2, 2, 8, 8]])


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "sub/../../x.png"])
def test_file_names_leaving_the_image_folder_are_refused(name, own_shapes, tmp_path, capsys):
    ann = edit_coco(own_shapes, "escape.json", lambda coco: coco["images"][2].update(file_name=name))
    cfg = write_config(tmp_path / "cfg.py", own_shapes, train_ann=ann)
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w")])
    assert f"image 2 has file name {name!r}, which leads outside img_prefix {own_shapes / 'train'}/" in line
    inside = edit_coco(own_shapes, "inside.json", lambda coco: coco["images"][2].update(
        file_name="sub/../" + coco["images"][2]["file_name"]))
    ds = CocoDataset(ann_file=str(own_shapes / "annotations" / inside), pipeline=[], classes=CLASSES,
                     img_prefix=str(own_shapes / "train"))
    assert len(ds) == 4
    with pytest.raises(DataError, match="leads outside img_prefix"):
        CocoDataset(ann_file=str(own_shapes / "annotations" / ann), pipeline=[], classes=CLASSES,
                    img_prefix=str(own_shapes / "train"))
    allowed = CocoDataset(ann_file=str(own_shapes / "annotations" / ann), pipeline=[], classes=CLASSES,
                          img_prefix=str(own_shapes / "train"), allow_paths_outside_prefix=True, test_mode=True)
    assert allowed.data_infos[2]["filename"] == name
