"""The guide's chapters 三/五/六 (datasets, pipelines): COCO-format data with new classes, the middle
format (a CustomDataset subclass and the pickle), class subsets, the dataset wrappers and a custom
transform, each trained for one short epoch from its example config."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import torch
from example_runs import CLASSES, FAST_CLI, coco_annotations, det, json_log, train

from detcli.config import Config
from detcli.data import build_dataset


def val_lines(work_dir):
    return [d for d in json_log(work_dir) if d["mode"] == "val"]


def images_with(ann: dict, class_names) -> int:
    ids = {c["id"] for c in ann["categories"] if c["name"] in class_names}
    return len({a["image_id"] for a in ann["annotations"] if a["category_id"] in ids})


def test_coco_format_with_new_classes_the_balloon_way(example, workspace, tmp_path):
    folder = example("dataset_coco")
    config = folder / "mask_rcnn_r18_caffe_fpn_mstrain-poly_shapes.py"
    work = tmp_path / "work"
    assert det("train", config, "--work-dir", work, "--device", "cpu", "--seed", "0", "--cfg-options", *FAST_CLI) == 0
    ckpt = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)
    assert tuple(ckpt["meta"]["CLASSES"]) == CLASSES
    state = ckpt["state_dict"]
    assert state["roi_head.bbox_head.fc_cls.weight"].shape[0] == 5  # 4 classes + background
    assert state["roi_head.mask_head.conv_logits.weight"].shape[0] == 4
    assert "bbox_mAP" in val_lines(work)[0] and "segm_mAP" in val_lines(work)[0]
    cfg = Config.fromfile(config)
    assert cfg.model.backbone.style == "caffe" and cfg.data.train.pipeline[2].multiscale_mode == "value"
    # the guide's test command, with the results saved: one (boxes, masks) result per val image
    out = tmp_path / "results.pkl"
    assert det("test", config, work / "latest.pth", "--eval", "bbox", "segm", "--out", out, "--device", "cpu") == 0
    results = pickle.loads(out.read_bytes())
    assert len(results) == 2 and all(len(r[0]) == 4 and len(r[1]) == 4 for r in results)


def test_middle_format_my_dataset_reads_the_guides_txt(example, workspace, tmp_path):
    folder = example("dataset_middle_format")
    from coco_to_txt import coco_to_txt  # the example's converter (its folder is importable)

    shapes = workspace / "data/shapes"
    for split in ("train", "val"):
        assert coco_to_txt(str(shapes / f"annotations/instances_{split}.json"), str(shapes / f"{split}.txt")) in (4, 2)
    ann = coco_annotations(workspace)
    first = ann["images"][0]
    boxes = [a for a in ann["annotations"] if a["image_id"] == first["id"]]
    lines = (shapes / "train.txt").read_text().splitlines()
    assert lines[:4] == ["#", first["file_name"], f"{first['width']} {first['height']}", str(len(boxes))]

    config = folder / "faster_rcnn_my_dataset_shapes.py"
    runner = train(config, tmp_path / "work")
    dataset = runner.data_loader.dataset
    assert type(dataset).__name__ == "MyDataset" and len(dataset) == 4
    x, y, w, h = boxes[0]["bbox"]
    info = dataset.get_ann_info(0)
    assert info["bboxes"].dtype == np.float32 and np.allclose(info["bboxes"][0], [x, y, x + w, y + h], atol=1e-3)
    assert info["labels"][0] == [c["name"] for c in ann["categories"]].index(
        next(c["name"] for c in ann["categories"] if c["id"] == boxes[0]["category_id"]))
    val = val_lines(tmp_path / "work")
    assert "mAP" in val[0] and 0.0 <= val[0]["mAP"] <= 1.0  # VOC-style evaluation of a middle-format set


def test_middle_format_pickle_with_plain_custom_dataset(example, tmp_path):
    folder = example("dataset_middle_format")
    runner = train(folder / "faster_rcnn_middle_pkl_shapes.py", tmp_path / "work")
    dataset = runner.data_loader.dataset
    assert type(dataset).__name__ == "CustomDataset" and tuple(dataset.CLASSES) == CLASSES and len(dataset) == 4
    assert "mAP" in val_lines(tmp_path / "work")[0]


def test_class_subset_from_a_tuple(example, workspace, tmp_path):
    folder = example("dataset_class_subset")
    runner = train(folder / "faster_rcnn_classes_tuple_shapes.py", tmp_path / "work")
    dataset = runner.data_loader.dataset
    assert tuple(dataset.CLASSES) == ("circle", "triangle")
    # images without either class are left out of training; labels are 0 (circle) and 1 (triangle)
    assert len(dataset) == images_with(coco_annotations(workspace), {"circle", "triangle"})
    labels = np.concatenate([dataset.get_ann_info(i)["labels"] for i in range(len(dataset))])
    assert set(labels.tolist()) <= {0, 1} and len(labels) > 0
    ckpt = torch.load(tmp_path / "work/latest.pth", map_location="cpu", weights_only=True)
    assert tuple(ckpt["meta"]["CLASSES"]) == ("circle", "triangle")
    assert ckpt["state_dict"]["roi_head.bbox_head.fc_cls.weight"].shape[0] == 3


def test_class_subset_from_a_file(example, workspace, tmp_path):
    folder = example("dataset_class_subset")
    cfg = Config.fromfile(folder / "faster_rcnn_classes_file_shapes.py")
    assert cfg.data.train.classes == str(folder / "classes.txt")  # {{ fileDirname }} filled in
    runner = train(folder / "faster_rcnn_classes_file_shapes.py", tmp_path / "work")
    assert list(runner.data_loader.dataset.CLASSES) == ["circle", "triangle"]
    assert runner.model.roi_head.bbox_head.num_classes == 2


def test_repeat_dataset(example, tmp_path):
    folder = example("dataset_wrappers")
    runner = train(folder / "faster_rcnn_repeat_dataset_shapes.py", tmp_path / "work")
    dataset = runner.data_loader.dataset
    assert type(dataset).__name__ == "RepeatDataset" and len(dataset) == 2 * 4
    assert len([d for d in json_log(tmp_path / "work") if d["mode"] == "train"]) == 4  # 8 samples, 2 a batch


def test_class_balanced_dataset(example, workspace, tmp_path):
    folder = example("dataset_wrappers")
    runner = train(folder / "faster_rcnn_class_balanced_shapes.py", tmp_path / "work")
    dataset = runner.data_loader.dataset
    assert type(dataset).__name__ == "ClassBalancedDataset"
    ann = coco_annotations(workspace)
    per_image = [{a["category_id"] for a in ann["annotations"] if a["image_id"] == img["id"]}
                 for img in ann["images"]]
    freq = {c: sum(c in cats for cats in per_image) / len(per_image) for c in set().union(*per_image)}
    repeats = [math.ceil(max(max(1.0, math.sqrt(0.8 / freq[c])) for c in cats)) for cats in per_image]
    assert len(dataset) == sum(repeats) > len(per_image)


def test_concat_datasets_three_ways(example, tmp_path):
    folder = example("dataset_wrappers")
    config = folder / "faster_rcnn_concat_datasets_shapes.py"
    runner = train(config, tmp_path / "work")
    dataset = runner.data_loader.dataset
    # a list of two repeated datasets of different types: COCO json x2 + middle-format pickle x1
    assert type(dataset).__name__ == "ConcatDataset" and len(dataset) == 2 * 4 + 4
    assert [type(d.dataset).__name__ for d in dataset.datasets] == ["CocoDataset", "CustomDataset"]
    # val: one config with two annotation files, scored as one set (no 0_/1_ prefixes)
    val = val_lines(tmp_path / "work")[0]
    assert "mAP" in val and not any(k.startswith(("0_", "1_")) for k in val)
    test_set = build_dataset(Config.fromfile(config).data.test, dict(test_mode=True))
    assert type(test_set).__name__ == "ConcatDataset" and len(test_set) == 2 * 2 and not test_set.separate_eval
    # test: an explicit ConcatDataset, evaluated as a whole too
    assert det("test", config, tmp_path / "work/latest.pth", "--eval", "mAP", "--work-dir", tmp_path / "test",
               "--device", "cpu") == 0
    (metrics,) = (tmp_path / "test").glob("eval_*.json")
    assert "mAP" in json.loads(metrics.read_text())["metric"]


def test_custom_transform_in_the_train_pipeline(example, workspace, tmp_path):
    folder = example("custom_transform")
    config = folder / "faster_rcnn_my_transform_shapes.py"
    cfg = Config.fromfile(config)
    dataset = build_dataset(cfg.data.train)
    steps = dataset.pipeline.transforms
    names = [type(t).__name__ for t in steps]
    assert names.index("MyTransform") == names.index("DefaultFormatBundle") - 1
    results = dict(img_info=dataset.data_infos[0], ann_info=dataset.get_ann_info(0))
    dataset.pre_pipeline(results)
    for step in steps[:names.index("MyTransform") + 1]:
        results = step(results)
    assert results["dummy"] is True and results["img"].shape == (320, 320, 3)
    work = tmp_path / "work"
    assert det("train", config, "--work-dir", work, "--device", "cpu", "--seed", "0", "--cfg-options", *FAST_CLI) == 0
    assert len([d for d in json_log(work) if d["mode"] == "train"]) == 2 and Path(work / "latest.pth").exists()
