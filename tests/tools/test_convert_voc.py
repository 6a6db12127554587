"""``det convert voc``: the files, ids and box conventions of mmdetection 2.x's pascal_voc.py,
checked on a VOCdevkit written by hand; the result loads in CocoDataset and its train pipeline."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from detcli.cli import main
from detcli.errors import DataError
from detcli.tools.converters.pascal_voc import convert_voc

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")


def _xml(objects: list[tuple], size=(500, 375), with_size=True) -> str:
    parts = ["<annotation><folder>VOC</folder>"]
    if with_size:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, box, difficult in objects:
        diff = "" if difficult is None else f"<difficult>{difficult}</difficult>"
        parts.append(f"<object><name>{name}</name><pose>Left</pose>{diff}<bndbox><xmin>{box[0]}</xmin>"
                     f"<ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>"


def _year(devkit: Path, year: str, images: dict[str, list[tuple]], splits: dict[str, list[str]]) -> None:
    root = devkit / f"VOC{year}"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for img_id, objects in images.items():
        (root / "Annotations" / f"{img_id}.xml").write_text(_xml(objects))
    for split, ids in splits.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))


def make_devkit(parent: Path, explicit_difficult: bool = False) -> Path:
    """VOC2007 (train/val/trainval/test) and VOC2012 (train/val/trainval): difficult boxes, an image with
    only a difficult box and, unless ``explicit_difficult``, an object without <difficult> (on which
    mmdetection's own converter stops)."""
    kit = parent / "VOCdevkit"
    _year(kit, "2007", {
        "000005": [("chair", (263, 211, 324, 339), 0), ("chair", (165, 264, 253, 372), 1),
                   ("dog", (5, 8, 60, 90), 0 if explicit_difficult else None)],
        "000007": [("car", (141, 50, 500, 330), 0)],
        "000001": [("person", (8, 12, 352, 498), 0)],
    }, {"train": ["000005"], "val": ["000007"], "trainval": ["000005", "000007"], "test": ["000001"]})
    _year(kit, "2012", {
        "2008_000008": [("horse", (53, 87, 471, 420), 0)],
        "2008_000015": [("bottle", (270, 1, 378, 176), 1)],
    }, {"train": ["2008_000008"], "val": ["2008_000015"], "trainval": ["2008_000008", "2008_000015"]})
    return kit


@pytest.fixture
def devkit(tmp_path):
    return make_devkit(tmp_path)


def test_files_written_as_mmdetection_names_them(devkit, tmp_path):
    summary = convert_voc(devkit, tmp_path / "out")
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(
        [f"voc07_{s}.json" for s in ("train", "val", "trainval", "test")]
        + [f"voc12_{s}.json" for s in ("train", "val", "trainval")]
        + [f"voc0712_{s}.json" for s in ("train", "val", "trainval")])
    assert "no " in summary["voc12_test"]["skipped"]  # VOC2012 has no test list here
    assert list(summary)[:4] == ["voc07_train", "voc07_val", "voc07_trainval", "voc07_test"]


def test_coco_json_boxes_ids_and_difficult(devkit, tmp_path):
    convert_voc(devkit, tmp_path)
    coco = json.loads((tmp_path / "voc07_trainval.json").read_text())
    assert list(coco) == ["images", "type", "categories", "annotations"] and coco["type"] == "instance"
    assert coco["categories"][11] == dict(supercategory="none", id=11, name="dog")
    assert [c["name"] for c in coco["categories"]] == list(VOC_CLASSES)
    assert coco["images"] == [dict(id=0, file_name="VOC2007/JPEGImages/000005.jpg", height=375, width=500),
                              dict(id=1, file_name="VOC2007/JPEGImages/000007.jpg", height=375, width=500)]
    anns = coco["annotations"]
    # non-difficult boxes first (chair, dog), then the difficult chair; VOC's 1-based pixels shifted by -1
    assert [(a["category_id"], a["iscrowd"], a["image_id"]) for a in anns] == [(8, 0, 0), (11, 0, 0), (8, 1, 0),
                                                                               (6, 0, 1)]
    assert anns[0]["bbox"] == [262, 210, 61, 128] and anns[0]["area"] == 61 * 128
    assert anns[0]["segmentation"] == [[262, 210, 262, 338, 323, 338, 323, 210]]
    assert anns[2]["bbox"] == [164, 263, 88, 108] and anns[2]["ignore"] == 0
    assert [a["id"] for a in anns] == [1, 2, 3, 4]


def test_both_years_are_concatenated(devkit, tmp_path):
    convert_voc(devkit, tmp_path)
    coco = json.loads((tmp_path / "voc0712_trainval.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == [
        "VOC2007/JPEGImages/000005.jpg", "VOC2007/JPEGImages/000007.jpg",
        "VOC2012/JPEGImages/2008_000008.jpg", "VOC2012/JPEGImages/2008_000015.jpg"]
    assert [i["id"] for i in coco["images"]] == [0, 1, 2, 3]
    assert [(a["image_id"], a["category_id"], a["iscrowd"]) for a in coco["annotations"]][-2:] == [(2, 12, 0),
                                                                                                  (3, 4, 1)]


def test_pkl_is_the_middle_format(devkit, tmp_path):
    main(["convert", "voc", str(devkit), "-o", str(tmp_path), "--out-format", "pkl"])
    entries = pickle.loads((tmp_path / "voc07_train.pkl").read_bytes())
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["filename"], entry["width"], entry["height"]) == ("VOC2007/JPEGImages/000005.jpg", 500, 375)
    ann = entry["ann"]
    assert ann["bboxes"].dtype == np.float32 and ann["labels"].dtype == np.int64
    np.testing.assert_array_equal(ann["bboxes"], [[262, 210, 323, 338], [4, 7, 59, 89]])
    np.testing.assert_array_equal(ann["labels"], [8, 11])
    np.testing.assert_array_equal(ann["bboxes_ignore"], [[164, 263, 252, 371]])
    np.testing.assert_array_equal(ann["labels_ignore"], [8])
    empty = pickle.loads((tmp_path / "voc12_val.pkl").read_bytes())[0]["ann"]
    assert empty["bboxes"].shape == (0, 4) and empty["bboxes"].dtype == np.float32
    assert empty["labels"].shape == (0,) and empty["labels"].dtype == np.int64


def test_malformed_input_names_the_file_and_element(devkit, tmp_path):
    xml = devkit / "VOC2007" / "Annotations" / "000007.xml"
    xml.write_text(_xml([("car", (1, 1, 5, 5), 0), ("spaceship", (1, 1, 5, 5), 0)]))
    with pytest.raises(DataError, match=r"000007\.xml: <object> 1 has class 'spaceship'") as info:
        convert_voc(devkit, tmp_path)
    assert "--classes" in info.value.hint
    xml.write_text(_xml([("car", (1, 1, 5, 5), 0)], with_size=False))
    with pytest.raises(DataError, match=r"000007\.xml: no <size>"):
        convert_voc(devkit, tmp_path)
    xml.write_text("<annotation><size>")
    with pytest.raises(DataError, match=r"malformed XML in .*000007\.xml"):
        convert_voc(devkit, tmp_path)
    with pytest.raises(DataError, match="neither a VOC2007 nor a VOC2012"):
        convert_voc(tmp_path / "empty", tmp_path)


def test_generated_voc_tree_loads_in_coco_dataset_and_train_pipeline(tmp_path):
    from detcli.data import build_dataset
    from detcli.data.synthetic import SHAPE_CLASSES, generate_shapes

    data = tmp_path / "shapes"
    generate_shapes(data, num_train=4, num_val=2, size=64, seed=3, voc=True)
    main(["convert", "voc", str(data), "--classes", str(data / "classes.txt"), "-o", str(tmp_path / "ann")])
    ds = build_dataset(dict(
        type="CocoDataset", classes=SHAPE_CLASSES, ann_file=str(tmp_path / "ann" / "voc07_train.json"),
        img_prefix=str(data), pipeline=[
            dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
            dict(type="RandomFlip", flip_ratio=0.0),
            dict(type="DefaultFormatBundle"), dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels"])]))
    assert len(ds) == 4
    sample = ds[0]
    img = sample["img"].data
    assert tuple(img.shape) == (3, 64, 64)
    # the boxes the generator wrote (1-based VOC pixels) come back shifted by -1, labels in class order
    import xml.etree.ElementTree as ET

    root = ET.parse(data / "VOC2007" / "Annotations" / "train_000000.xml").getroot()
    expected = [[int(o.find("bndbox").find(k).text) - 1 for k in ("xmin", "ymin", "xmax", "ymax")]
                for o in root.findall("object")]
    labels = [SHAPE_CLASSES.index(o.find("name").text) for o in root.findall("object")]
    np.testing.assert_array_equal(sample["gt_bboxes"].data.numpy(), np.array(expected, np.float32))
    assert sample["gt_labels"].data.tolist() == labels


def test_outputs_equal_mmdetection_228(tmp_path):
    """Every file mmdetection 2.28.2's pascal_voc.py wrote for this devkit (recorded), annotation ids +1."""
    import gzip

    ref = json.loads(gzip.open(Path(__file__).resolve().parents[1] / "fixtures" / "converters" /
                               "mmdet228_outputs.json.gz", "rt").read())
    assert "mmdetection 2.28.2" in ref["provenance"]
    kit = make_devkit(tmp_path, explicit_difficult=True)
    convert_voc(kit, tmp_path / "coco")
    convert_voc(kit, tmp_path / "pkl", out_format="pkl")
    ours = {p.name: json.loads(p.read_text()) for p in (tmp_path / "coco").glob("*.json")}
    for p in (tmp_path / "pkl").glob("*.pkl"):
        ours[p.name] = [dict(e, ann={k: v.tolist() for k, v in e["ann"].items()}) for e in pickle.loads(p.read_bytes())]
    assert sorted(ours) == sorted(ref["voc"])
    for name, theirs in ref["voc"].items():
        if name.endswith(".json"):
            for ann in theirs["annotations"]:
                ann["id"] += 1
            assert list(ours[name]) == list(theirs)
        assert ours[name] == theirs, name
