"""Datasets on small sets the tests write: COCO, VOC XML, middle format, the guide's txt example,
class subsets, filtering, and bad input."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from detcli.data import CocoDataset, CustomDataset, VOCDataset, XMLDataset, build_dataset
from detcli.data.datasets.coco import CityscapesDataset
from detcli.data.synthetic import SHAPE_CLASSES
from detcli.errors import DataError
from detcli.registry import DATASETS

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True, with_mask=True)]


def _coco_boxes(root, split="train"):
    data = json.loads((root / "annotations" / f"instances_{split}.json").read_text())
    by_img = {}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        by_img.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], a["category_id"] - 1))
    return data, by_img


# -- COCO ----------------------------------------------------------------------------
def test_coco_dataset_on_shapes(shapes_root):
    ds = CocoDataset(ann_file=str(shapes_root / "annotations/instances_train.json"), pipeline=LOAD,
                     img_prefix=str(shapes_root / "train"), classes=SHAPE_CLASSES)
    data, by_img = _coco_boxes(shapes_root)
    assert len(ds) == len(data["images"]) == 12
    assert ds.cat_ids == [1, 2, 3, 4] and ds.cat2label == {1: 0, 2: 1, 3: 2, 4: 3}
    assert ds.img_ids == [im["id"] for im in data["images"]]
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        expected = by_img[ds.img_ids[i]]
        np.testing.assert_allclose(ann["bboxes"], np.float32([b for b, _ in expected]), rtol=1e-6)
        np.testing.assert_array_equal(ann["labels"], [lab for _, lab in expected])
        assert ann["bboxes"].dtype == np.float32 and ann["labels"].dtype == np.int64
    sample = ds[0]
    assert sample["img"].shape == (128, 128, 3) and len(sample["gt_masks"]) == len(sample["gt_bboxes"])
    assert sample["filename"].endswith("000000.png")
    assert (ds.flag == 0).all()  # square images: not wider than high
    assert "circle" in repr(ds)


def _write_coco(path, images, annotations, categories=None):
    categories = categories or [dict(id=1, name="cat"), dict(id=2, name="dog"), dict(id=5, name="bird")]
    path.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return str(path)


def _ann(i, img, cat, bbox, **kw):
    return dict(id=i, image_id=img, category_id=cat, bbox=bbox, area=kw.pop("area", bbox[2] * bbox[3]),
                iscrowd=kw.pop("iscrowd", 0), segmentation=kw.pop("segmentation", []), **kw)


@pytest.fixture
def hand_coco(tmp_path):
    images = [dict(id=10, file_name="a.jpg", width=100, height=80), dict(id=11, file_name="b.jpg", width=50, height=60),
              dict(id=12, file_name="c.jpg", width=20, height=20), dict(id=13, file_name="d.jpg", width=64, height=40)]
    anns = [
        _ann(1, 10, 1, [10, 10, 20, 30]),
        _ann(2, 10, 2, [0, 0, 40, 40], iscrowd=1),  # -> ignore
        _ann(3, 10, 1, [5, 5, 0.5, 10]),  # w < 1: dropped
        _ann(4, 10, 5, [90, 70, 30, 30]),  # partly outside: clipped to 100x80
        _ann(5, 10, 2, [200, 200, 10, 10]),  # entirely outside: dropped
        _ann(6, 10, 1, [1, 1, 5, 5], area=0),  # zero area: dropped
        _ann(7, 12, 1, [1, 1, 5, 5]),  # image below min_size
        _ann(8, 13, 9, [1, 1, 5, 5]),  # undefined category
        _ann(9, 10, 2, [30, 30, 10, 10], ignore=True),  # 'ignore' flag
    ]
    return _write_coco(tmp_path / "hand.json", images, anns)


def test_coco_parsing_rules(hand_coco, caplog):
    with caplog.at_level(logging.WARNING, logger="detcli"):
        ds = CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=("cat", "dog", "bird"))
    assert "1 annotations" in caplog.text and "categories" in caplog.text  # the undefined category, counted
    assert ds.num_ignored_annotations == 1
    # train mode: b (no annotations), c (< 32 px) and d (only an unknown category) are filtered
    assert [info["filename"] for info in ds.data_infos] == ["a.jpg"] and ds.img_ids == [10]
    ann = ds.get_ann_info(0)
    np.testing.assert_allclose(ann["bboxes"], [[10, 10, 30, 40], [90, 70, 100, 80]])
    np.testing.assert_array_equal(ann["labels"], [0, 2])  # cat -> 0, bird (id 5) -> 2
    np.testing.assert_allclose(ann["bboxes_ignore"], [[0, 0, 40, 40]])
    assert ann["seg_map"] == "a.png" and len(ann["masks"]) == 2
    assert sorted(ds.get_cat_ids(0)) == [1, 1, 1, 2, 2, 2, 5]
    everything = CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=("cat", "dog", "bird"), test_mode=True)
    assert len(everything) == 4 and everything.img_ids == [10, 11, 12, 13]
    keep_empty = CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=("cat", "dog", "bird"), filter_empty_gt=False)
    assert keep_empty.img_ids == [10, 11, 13]  # only the min_size filter


def test_coco_class_subsets_from_tuple_and_file(hand_coco, tmp_path, caplog):
    subset = CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=("bird",))
    assert subset.cat_ids == [5] and subset.img_ids == [10]
    ann = subset.get_ann_info(0)
    np.testing.assert_allclose(ann["bboxes"], [[90, 70, 100, 80]])
    np.testing.assert_array_equal(ann["labels"], [0])
    assert subset.num_ignored_annotations == 1 + 7  # undefined + cat/dog ones
    (tmp_path / "classes.txt").write_text("dog\nbird\n\n")
    from_file = CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=str(tmp_path / "classes.txt"))
    assert list(from_file.CLASSES) == ["dog", "bird"] and from_file.cat_ids == [2, 5]
    with pytest.raises(DataError, match="classes file not found: .*nope.txt"):
        CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=str(tmp_path / "nope.txt"))
    other = _write_coco(tmp_path / "other.json", [dict(id=1, file_name="a.jpg", width=64, height=64)],
                        [_ann(1, 1, 1, [1, 1, 9, 9])], [dict(id=1, name="alpha")])
    with pytest.raises(DataError, match="none of the dataset's 80 classes"):
        CocoDataset(ann_file=other, pipeline=[])  # the default COCO names share nothing with it
    with caplog.at_level(logging.WARNING, logger="detcli"):
        CocoDataset(ann_file=hand_coco, pipeline=[], allow_unknown_categories=True, classes=("cat", "unicorn"))
    assert "unicorn" in caplog.text


def test_coco_bad_files(tmp_path):
    with pytest.raises(DataError, match="annotation file not found: .*missing.json"):
        CocoDataset(ann_file=str(tmp_path / "missing.json"), pipeline=[])
    (tmp_path / "bad.json").write_text('{"images": [}')
    with pytest.raises(DataError, match=r"malformed JSON in .*bad.json: .* line 1"):
        CocoDataset(ann_file=str(tmp_path / "bad.json"), pipeline=[])
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DataError, match="not a COCO annotation file"):
        CocoDataset(ann_file=str(tmp_path / "list.json"), pipeline=[])
    images = [dict(id=1, file_name="a.jpg", width=64, height=64)]
    dup = _write_coco(tmp_path / "dup.json", images, [_ann(1, 1, 1, [1, 1, 4, 4]), _ann(1, 1, 1, [2, 2, 4, 4])])
    with pytest.raises(DataError, match="not unique"):
        CocoDataset(ann_file=dup, pipeline=[], classes=("cat",))
    bad_img = _write_coco(tmp_path / "noimgsize.json", [dict(id=1, file_name="a.jpg")], [])
    with pytest.raises(DataError, match=r"images\[0\] has no \['width', 'height'\]"):
        CocoDataset(ann_file=bad_img, pipeline=[], classes=("cat",))


def test_missing_image_is_one_clear_error_or_skipped(shapes_root, tmp_path, caplog):
    data = json.loads((shapes_root / "annotations/instances_train.json").read_text())
    data["images"][1]["file_name"] = "gone.png"
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(data))
    kwargs = dict(ann_file=str(ann), pipeline=LOAD, img_prefix=str(shapes_root / "train"), classes=SHAPE_CLASSES)
    strict = CocoDataset(**kwargs)
    with pytest.raises(DataError, match="image file not found: .*gone.png"):
        strict[1]
    with caplog.at_level(logging.WARNING, logger="detcli"):
        lenient = CocoDataset(skip_unreadable=True, **kwargs)
    assert len(lenient) == 11 and lenient.num_skipped == 1 and "1 of 12 images" in caplog.text
    assert 2 not in lenient.img_ids
    # an undecodable file: training draws another image and counts it
    broken = tmp_path / "train"
    broken.mkdir()
    for p in (shapes_root / "train").iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    (broken / "000003.png").write_bytes(b"garbage")
    lenient = CocoDataset(**dict(kwargs, img_prefix=str(broken)), skip_unreadable=True)
    np.random.seed(0)
    sample = lenient[2]  # data_infos[2] is 000003.png
    assert sample is not None and lenient.num_skipped == 2 and sample["ori_filename"] != "000003.png"


def test_coco_evaluate_delegates(shapes_root):
    ds = CocoDataset(ann_file=str(shapes_root / "annotations/instances_val.json"), pipeline=[],
                     img_prefix=str(shapes_root / "val"), classes=SHAPE_CLASSES, test_mode=True)
    results = []
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        per_class = [np.zeros((0, 5), np.float32) for _ in SHAPE_CLASSES]
        for box, label in zip(ann["bboxes"], ann["labels"]):
            per_class[label] = np.vstack([per_class[label], np.append(box, 1.0)[None].astype(np.float32)])
        results.append(per_class)
    metrics = ds.evaluate(results, metric="bbox")
    assert metrics["bbox_mAP"] == pytest.approx(1.0)


def test_an_image_info_file_without_annotations_loads_in_test_mode_and_formats(shapes_root, tmp_path):
    """COCO test-dev ships image_info_test-dev2017.json: images and categories, no annotations."""
    from detcli.evaluation.errors import MetricError

    data = json.loads((shapes_root / "annotations/instances_val.json").read_text())
    info = tmp_path / "image_info_test.json"
    info.write_text(json.dumps({"images": data["images"], "categories": data["categories"]}))
    with pytest.raises(DataError, match="no \\['annotations'\\] key") as err:
        CocoDataset(ann_file=str(info), pipeline=[], classes=SHAPE_CLASSES)
    assert "test mode" in err.value.hint
    ds = CocoDataset(ann_file=str(info), pipeline=[dict(type="LoadImageFromFile")], img_prefix=str(shapes_root / "val"),
                     classes=SHAPE_CLASSES, test_mode=True)
    assert ds.img_ids == [img["id"] for img in data["images"]] and len(ds) == len(data["images"])
    assert ds[0]["img"].shape[:2] == (data["images"][0]["height"], data["images"][0]["width"])
    assert len(ds.get_ann_info(0)["bboxes"]) == 0
    results = [[np.array([[1, 2, 11, 22, 0.9]], np.float32) if c == 1 else np.zeros((0, 5), np.float32)
                for c in range(len(SHAPE_CLASSES))] for _ in range(len(ds))]
    files, _ = ds.format_results(results, jsonfile_prefix=str(tmp_path / "test-dev"))
    written = json.loads(Path(files["bbox"]).read_text())
    assert [d["image_id"] for d in written] == ds.img_ids
    assert {d["category_id"] for d in written} == {ds.cat_ids[1]} and written[0]["bbox"] == [1, 2, 10, 20]
    with pytest.raises(MetricError, match="no annotations") as err:
        ds.evaluate(results, metric="bbox")
    assert "--format-only" in err.value.hint


def test_cityscapes_filters_all_crowd_images(tmp_path):
    images = [dict(id=1, file_name="a.png", width=64, height=64), dict(id=2, file_name="b.png", width=64, height=64)]
    anns = [_ann(1, 1, 1, [1, 1, 10, 10]), _ann(2, 2, 1, [1, 1, 10, 10], iscrowd=1)]
    path = _write_coco(tmp_path / "cs.json", images, anns, [dict(id=1, name="person")])
    ds = CityscapesDataset(ann_file=path, pipeline=[])
    assert ds.img_ids == [1]
    assert CocoDataset(ann_file=path, pipeline=[], classes=("person",)).img_ids == [1, 2]


def test_cityscapes_format_results_writes_submission_txt(tmp_path):
    images = [dict(id=1, file_name="frankfurt/f_000001_leftImg8bit.png", width=16, height=8)]
    path = _write_coco(tmp_path / "cs.json", images, [_ann(1, 1, 1, [1, 1, 4, 4])], [dict(id=1, name="person")])
    ds = CityscapesDataset(ann_file=path, pipeline=[], test_mode=True)
    boxes = [np.zeros((0, 5), np.float32) for _ in ds.CLASSES]
    boxes[0] = np.array([[1, 1, 5, 5, 0.5]], np.float32)
    mask = np.zeros((8, 16), bool)
    mask[1:5, 1:5] = True
    segms = [[] for _ in ds.CLASSES]
    segms[0] = [mask]
    files, tmp_dir = ds.format_results([(boxes, segms)], txtfile_prefix=str(tmp_path / "sub"))
    assert tmp_dir is None and files == [str(tmp_path / "sub" / "f_000001_leftImg8bit_pred.txt")]
    # 24 is the Cityscapes label id of 'person'
    assert (tmp_path / "sub" / "f_000001_leftImg8bit_pred.txt").read_text() == "f_000001_leftImg8bit_0_person.png 24 0.5\n"


# -- VOC / XML ------------------------------------------------------------------------
def test_xml_and_voc_datasets_on_generated_voc(shapes_root):
    voc = shapes_root / "VOC2007"
    ds = XMLDataset(ann_file=str(voc / "ImageSets/Main/train.txt"), pipeline=LOAD[:1] + [dict(type="LoadAnnotations")],
                    img_prefix=str(voc), classes=SHAPE_CLASSES)
    _, by_img = _coco_boxes(shapes_root)
    assert len(ds) == 12
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        expected = np.float32([b for b, _ in by_img[i + 1]])
        # VOC stores 1-based inclusive integer pixels; read back as [floor(x1), ceil(x2) - 1]
        np.testing.assert_allclose(ann["bboxes"][:, :2], np.floor(expected[:, :2]))
        np.testing.assert_allclose(ann["bboxes"][:, 2:], np.ceil(expected[:, 2:]) - 1)
        np.testing.assert_array_equal(ann["labels"], [lab for _, lab in by_img[i + 1]])
        assert ds.get_cat_ids(i) == list(ann["labels"])
    sample = ds[0]
    assert sample["img"].shape == (128, 128, 3) and sample["filename"].endswith("train_000000.jpg")
    vocds = VOCDataset(ann_file=str(voc / "ImageSets/Main/val.txt"), pipeline=[], img_prefix=str(voc),
                       classes=SHAPE_CLASSES)
    assert vocds.year == 2007 and len(vocds) == 4


def _voc_tree(tmp_path, objects, size=True):
    root = tmp_path / "VOC2012"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    cv2.imwrite(str(root / "JPEGImages" / "x.jpg"), np.zeros((50, 70, 3), np.uint8))
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for n, d, b in objects)
    size_xml = "<size><width>70</width><height>50</height><depth>3</depth></size>" if size else ""
    (root / "Annotations" / "x.xml").write_text(f"<annotation>{size_xml}{objs}</annotation>")
    (root / "list.txt").write_text("x\n")
    return root


def test_xml_difficult_unknown_and_min_size(tmp_path):
    root = _voc_tree(tmp_path, [("dog", 0, (11, 21, 41, 46)), ("dog", 1, (1, 1, 20, 20)), ("cat", 0, (5, 5, 60, 45)),
                                ("dog", 0, (50, 30, 53, 33))], size=False)
    ds = VOCDataset(ann_file=str(root / "list.txt"), pipeline=[], img_prefix=str(root), min_size=5)
    assert ds.year == 2012 and ds.data_infos[0]["width"] == 70 and ds.data_infos[0]["height"] == 50  # from the image
    ann = ds.get_ann_info(0)
    np.testing.assert_allclose(ann["bboxes"], [[10, 20, 40, 45], [4, 4, 59, 44]])
    np.testing.assert_array_equal(ann["labels"], [VOCDataset.CLASSES.index("dog"), VOCDataset.CLASSES.index("cat")])
    np.testing.assert_allclose(ann["bboxes_ignore"], [[0, 0, 19, 19], [49, 29, 52, 32]])  # difficult, small
    assert ds.num_ignored_annotations == 0
    sub = XMLDataset(ann_file=str(root / "list.txt"), pipeline=[], img_prefix=str(root), classes=("cat",))
    np.testing.assert_array_equal(sub.get_ann_info(0)["labels"], [0])  # dogs ignored, and counted
    assert sub.num_ignored_annotations == 3


def test_xml_errors(tmp_path):
    root = _voc_tree(tmp_path, [("dog", 0, (1, 1, 5, 5))])
    (root / "Annotations" / "x.xml").write_text("<annotation><object>")
    with pytest.raises(DataError, match=r"malformed XML in .*x.xml"):
        XMLDataset(ann_file=str(root / "list.txt"), pipeline=[], img_prefix=str(root), classes=("dog",))
    (root / "list.txt").write_text("x\ny\n")
    (root / "Annotations" / "x.xml").write_text("<annotation/>")
    with pytest.raises(DataError, match=r"annotation file not found: .*y.xml"):
        XMLDataset(ann_file=str(root / "list.txt"), pipeline=[], img_prefix=str(root), classes=("dog",))
    with pytest.raises(DataError, match="needs classes"):
        XMLDataset(ann_file=str(root / "list.txt"), pipeline=[], img_prefix=str(root))
    with pytest.raises(DataError, match="VOC year"):
        VOCDataset(ann_file=str(root / "list.txt"), pipeline=[], img_prefix=str(tmp_path / "elsewhere"))


# -- middle format and the guide's txt dataset ---------------------------------------------
@pytest.mark.parametrize("suffix", ["pkl", "json"])
def test_middle_format(shapes_root, suffix):
    ds = CustomDataset(ann_file=str(shapes_root / f"annotations/middle_train.{suffix}"), pipeline=LOAD[:1] + [
        dict(type="LoadAnnotations")], img_prefix=str(shapes_root / "train"), classes=SHAPE_CLASSES)
    _, by_img = _coco_boxes(shapes_root)
    assert len(ds) == 12
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        assert ann["bboxes"].dtype == np.float32 and ann["labels"].dtype == np.int64
        np.testing.assert_allclose(ann["bboxes"], [b for b, _ in by_img[i + 1]], rtol=1e-6)
        assert ds.get_cat_ids(i) == [lab for _, lab in by_img[i + 1]]
    sample = ds[3]
    assert sample["gt_bboxes"].shape[1] == 4 and sample["img"].shape == (128, 128, 3)


def test_middle_format_filters_and_errors(tmp_path):
    infos = [dict(filename="a.png", width=64, height=48, ann=dict(bboxes=[[1, 2, 70, 40]], labels=[0])),
             dict(filename="b.png", width=64, height=48, ann=dict(bboxes=np.zeros((0, 4)), labels=[])),
             dict(filename="c.png", width=20, height=48, ann=dict(bboxes=[[1, 2, 3, 4]], labels=[1]))]
    with open(tmp_path / "m.pkl", "wb") as f:
        pickle.dump(infos, f)
    ds = CustomDataset(ann_file=str(tmp_path / "m.pkl"), pipeline=[], classes=("a", "b"))
    assert [i["filename"] for i in ds.data_infos] == ["a.png"]
    np.testing.assert_allclose(ds.get_ann_info(0)["bboxes"], [[1, 2, 64, 40]])  # clipped to the image
    assert ds.flag.tolist() == [1]  # wider than high
    everything = CustomDataset(ann_file=str(tmp_path / "m.pkl"), pipeline=[], test_mode=True)
    assert len(everything) == 3
    (tmp_path / "bad.json").write_text(json.dumps({"filename": "a"}))
    with pytest.raises(DataError, match="middle-format"):
        CustomDataset(ann_file=str(tmp_path / "bad.json"), pipeline=[])
    (tmp_path / "nowh.json").write_text(json.dumps([{"filename": "a"}]))
    with pytest.raises(DataError, match=r"entry 0 has no \['width', 'height'\]"):
        CustomDataset(ann_file=str(tmp_path / "nowh.json"), pipeline=[])
    (tmp_path / "trunc.pkl").write_bytes(b"\x80\x04\x95")
    with pytest.raises(DataError, match="trunc.pkl"):
        CustomDataset(ann_file=str(tmp_path / "trunc.pkl"), pipeline=[])


def test_guide_txt_dataset_example(tmp_path):
    """The guide's MyDataset (chapter 五), with detcli imports and its parsing bug fixed."""
    from detcli.data import CustomDataset, list_from_file

    @DATASETS.register_module(force=True)
    class MyDataset(CustomDataset):
        CLASSES = ("person", "bicycle", "car", "motorcycle")

        def load_annotations(self, ann_file):
            ann_list = list_from_file(ann_file)
            data_infos = []
            for i, ann_line in enumerate(ann_list):
                if ann_line != "#":
                    continue
                img_shape = ann_list[i + 2].split(" ")
                width, height = int(img_shape[0]), int(img_shape[1])
                bbox_number = int(ann_list[i + 3])
                bboxes, labels = [], []
                for anns in ann_list[i + 4:i + 4 + bbox_number]:
                    anns = anns.split(" ")
                    bboxes.append([float(ann) for ann in anns[:4]])
                    labels.append(int(anns[4]))
                data_infos.append(dict(filename=ann_list[i + 1], width=width, height=height,
                                       ann=dict(bboxes=np.array(bboxes).astype(np.float32),
                                                labels=np.array(labels).astype(np.int64))))
            return data_infos

        def get_ann_info(self, idx):
            return self.data_infos[idx]["ann"]

    (tmp_path / "image_list.txt").write_text(
        "#\n000001.jpg\n1280 720\n2\n10 20 40 60 1\n20 40 50 60 2\n"
        "#\n000002.jpg\n1280 720\n3\n50 20 40 60 2\n20 40 30 45 2\n30 40 50 60 3\n")
    ds = build_dataset(dict(type="MyDataset", ann_file=str(tmp_path / "image_list.txt"), pipeline=[]))
    assert len(ds) == 2 and ds.data_infos[1]["filename"] == "000002.jpg"
    np.testing.assert_allclose(ds.get_ann_info(0)["bboxes"], [[10, 20, 40, 60], [20, 40, 50, 60]])
    np.testing.assert_array_equal(ds.get_ann_info(1)["labels"], [2, 2, 3])
    assert ds.get_cat_ids(1) == [2, 2, 3] and ds.flag.tolist() == [1, 1]


def test_proposal_file_and_seg_prefix(tmp_path):
    images = [dict(id=1, file_name="a.png", width=40, height=36), dict(id=2, file_name="b.png", width=40, height=36)]
    _write_coco(tmp_path / "p.json", images, [_ann(1, 1, 1, [2, 2, 10, 10]), _ann(2, 2, 2, [3, 3, 9, 9])])
    for name, value in (("a", 1), ("b", 2)):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((36, 40, 3), 50, np.uint8))
        (tmp_path / "seg").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "seg" / f"{name}.png"), np.full((36, 40), value, np.uint8))
    proposals = [np.float32([[1, 1, 5, 5, 0.9]]), np.float32([[2, 2, 6, 6, 0.8], [0, 0, 3, 3, 0.1]])]
    (tmp_path / "props.pkl").write_bytes(pickle.dumps(proposals))
    ds = CocoDataset(ann_file="p.json", data_root=str(tmp_path), img_prefix="", seg_prefix="seg",
                     proposal_file="props.pkl", classes=("cat", "dog"), pipeline=[
                         dict(type="LoadImageFromFile"), dict(type="LoadProposals", num_max_proposals=1),
                         dict(type="LoadAnnotations", with_seg=True)])
    assert ds.seg_prefix == str(tmp_path / "seg") and ds.proposal_file == str(tmp_path / "props.pkl")
    second = ds[1]
    np.testing.assert_allclose(second["proposals"], [[2, 2, 6, 6]])
    assert (second["gt_semantic_seg"] == 2).all() and second["bbox_fields"] == ["proposals", "gt_bboxes_ignore",
                                                                               "gt_bboxes"]
    (tmp_path / "short.pkl").write_bytes(pickle.dumps(proposals[:1]))
    with pytest.raises(DataError, match="proposals for 1 images"):
        CocoDataset(ann_file="p.json", data_root=str(tmp_path), proposal_file="short.pkl", classes=("cat", "dog"),
                    pipeline=[])
