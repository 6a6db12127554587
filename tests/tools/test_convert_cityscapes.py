"""``det make-data cityscapes`` + ``det convert cityscapes``: the COCO json of mmdetection 2.x's
cityscapes.py, checked against the generator's polygons; drawing from polygons equals the official
tools; malformed input names the file and the element; the result loads and trains, and
``det test --eval cityscapes`` scores it end to end."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from detcli.cli import main
from detcli.data.cityscapes_polygons import draw_instance_ids, draw_label_ids, load_polygons
from detcli.data.synthetic import generate_cityscapes
from detcli.errors import DataError
from detcli.tools.converters.cityscapes import convert_cityscapes

REPO = Path(__file__).resolve().parents[2]
EVALUATED = {"person": 24, "rider": 25, "car": 26, "truck": 27, "bus": 28, "train": 31, "motorcycle": 32,
             "bicycle": 33}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes") / "cityscapes"
    generate_cityscapes(root, num_train=4, num_val=3, num_test=1, width=128, height=64, seed=1)
    return root


def _expected(root: Path, split: str) -> list[list[tuple]]:
    """Per image (sorted by name): (category id, iscrowd, [x, y, w, h]) of each object of the 8 classes."""
    out = []
    for poly_file in sorted((root / "gtFine" / split).glob("*/*_polygons.json")):
        objs = []
        for obj in json.loads(poly_file.read_text())["objects"]:
            name = obj["label"][: -len("group")] if obj["label"].endswith("group") else obj["label"]
            if name in EVALUATED:
                xy = np.array(obj["polygon"])
                x0, y0 = xy.min(0)
                x1, y1 = xy.max(0)
                objs.append((EVALUATED[name], int(obj["label"].endswith("group")),
                             [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]))
        out.append(objs)
    return out


def test_generated_tree_has_the_cityscapes_layout(tree):
    names = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    stem = "train/aachen/aachen_000000_000019"
    assert {f"leftImg8bit/{stem}_leftImg8bit.png", f"gtFine/{stem}_gtFine_polygons.json",
            f"gtFine/{stem}_gtFine_instanceIds.png", f"gtFine/{stem}_gtFine_labelIds.png"} <= names
    inst = cv2.imread(str(tree / "gtFine" / f"{stem}_gtFine_instanceIds.png"), cv2.IMREAD_UNCHANGED)
    labels = cv2.imread(str(tree / "gtFine" / f"{stem}_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED)
    assert inst.dtype == np.uint16 and labels.dtype == np.uint8 and inst.shape == labels.shape == (64, 128)
    # every instance pixel encodes its label: id // 1000 is the label id of the labelIds image
    big = inst >= 1000
    assert big.any() and np.array_equal(inst[big] // 1000, labels[big])
    assert set(np.unique(labels[~big])) <= {7, 11, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33}


def test_converted_annotations_match_the_polygons(tree, tmp_path):
    summary = convert_cityscapes(tree, out_dir=tmp_path, nproc=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "instancesonly_filtered_gtFine_test.json", "instancesonly_filtered_gtFine_train.json",
        "instancesonly_filtered_gtFine_val.json"]
    for split in ("train", "val"):
        coco = json.loads((tmp_path / f"instancesonly_filtered_gtFine_{split}.json").read_text())
        assert coco["categories"] == [dict(id=i, name=n) for n, i in EVALUATED.items()]
        city_files = sorted(p.relative_to(tree / "leftImg8bit" / split).as_posix()
                            for p in (tree / "leftImg8bit" / split).glob("*/*.png"))
        assert [i["file_name"] for i in coco["images"]] == city_files
        assert [i["id"] for i in coco["images"]] == list(range(len(city_files)))
        assert coco["images"][0]["segm_file"] == city_files[0].replace("leftImg8bit", "gtFine_labelIds")
        assert (coco["images"][0]["height"], coco["images"][0]["width"]) == (64, 128)
        got = [sorted((a["category_id"], a["iscrowd"], a["bbox"]) for a in coco["annotations"] if a["image_id"] == k)
               for k in range(len(city_files))]
        assert got == [sorted(e) for e in _expected(tree, split)]
        assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
        assert summary[split]["instances"] == len(coco["annotations"])
        ann = coco["annotations"][0]
        assert set(ann["segmentation"]) == {"size", "counts"} and isinstance(ann["segmentation"]["counts"], str)
    test = json.loads((tmp_path / "instancesonly_filtered_gtFine_test.json").read_text())
    assert "annotations" not in test and len(test["images"]) == 1  # as mmdetection writes a split without objects


def test_outputs_equal_mmdetection_228(tree, tmp_path):
    """mmdetection 2.28.2's cityscapes.py on this very tree (recorded): the same images and annotations,
    images in name order (mmdetection keeps the file system's order), annotation ids from 1."""
    import gzip

    ref = json.loads(gzip.open(REPO / "tests" / "fixtures" / "converters" / "mmdet228_outputs.json.gz", "rt").read())
    convert_cityscapes(tree, out_dir=tmp_path)
    for name, theirs in ref["cityscapes"].items():
        ours = json.loads((tmp_path / name).read_text())
        assert list(ours) == list(theirs) and ours["categories"] == theirs["categories"]
        order = sorted(theirs["images"], key=lambda i: i["file_name"])
        new_id = {img["id"]: k for k, img in enumerate(order)}
        assert ours["images"] == [dict(img, id=new_id[img["id"]]) for img in order]
        expected = sorted((dict(a, image_id=new_id[a["image_id"]]) for a in theirs.get("annotations", [])),
                          key=lambda a: (a["image_id"], a["id"]))
        assert [dict(a, id=None) for a in ours.get("annotations", [])] == [dict(a, id=None) for a in expected]


def test_polygons_stand_in_for_a_missing_instance_png(tree, tmp_path):
    convert_cityscapes(tree, out_dir=tmp_path / "from_png")
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    for png in (copy / "gtFine").rglob("*_instanceIds.png"):
        png.unlink()
    convert_cityscapes(copy, out_dir=tmp_path / "from_json")
    for split in ("train", "val"):
        name = f"instancesonly_filtered_gtFine_{split}.json"
        assert (tmp_path / "from_json" / name).read_text() == (tmp_path / "from_png" / name).read_text()


def test_drawing_equals_the_official_tools(tree):
    json2instance = pytest.importorskip("cityscapesscripts.preparation.json2instanceImg")
    json2label = pytest.importorskip("cityscapesscripts.preparation.json2labelImg")
    from cityscapesscripts.helpers.annotation import Annotation

    files = sorted((tree / "gtFine").glob("*/*/*_polygons.json"))
    assert any("group" in p.read_text() for p in files)  # crowds are among them
    for poly_file in files:
        ann = Annotation()
        ann.fromJsonFile(str(poly_file))
        ours = load_polygons(poly_file)
        assert np.array_equal(draw_instance_ids(ours), np.asarray(json2instance.createInstanceImage(ann, "ids")))
        assert np.array_equal(draw_label_ids(ours), np.asarray(json2label.createLabelImage(ann, "ids")))


def test_malformed_input_names_the_file_and_element(tree, tmp_path):
    copy = tmp_path / "bad"
    shutil.copytree(tree, copy)
    poly_file = sorted((copy / "gtFine" / "val").glob("*/*_polygons.json"))[0]
    poly_file.with_name(poly_file.name.replace("polygons.json", "instanceIds.png")).unlink()
    ann = json.loads(poly_file.read_text())
    ann["objects"][3]["label"] = "spaceship"
    poly_file.write_text(json.dumps(ann))
    with pytest.raises(DataError, match=rf"{poly_file.name}: objects\[3\]: unknown Cityscapes label 'spaceship'"):
        convert_cityscapes(copy, out_dir=tmp_path)
    ann["objects"][3] = dict(label="car", polygon=[[1, 2], "x"])
    poly_file.write_text(json.dumps(ann))
    with pytest.raises(DataError, match=r"objects\[3\] \(label 'car'\): 'polygon' must be"):
        convert_cityscapes(copy, out_dir=tmp_path)
    poly_file.unlink()
    with pytest.raises(DataError, match="neither .*instanceIds.png nor .*polygons.json"):
        convert_cityscapes(copy, out_dir=tmp_path)
    odd = next((copy / "leftImg8bit" / "train").glob("*/*.png"))
    odd.rename(odd.with_name("snapshot.png"))
    with pytest.raises(DataError, match=r"snapshot\.png: not a Cityscapes image name"):
        convert_cityscapes(copy, out_dir=tmp_path)
    with pytest.raises(DataError, match="no Cityscapes image folder"):
        convert_cityscapes(tmp_path / "nowhere", out_dir=tmp_path)


TINY_MASK_RCNN = '''
_base_ = '{root}/configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py'
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16)),
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=20)))
data_root = '{data}/'
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale=[(128, 64)], keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(128, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **img_norm_cfg),
        dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])]),
]
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(times=1, dataset=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_train.json',
                                     img_prefix=data_root + 'leftImg8bit/train/', pipeline=train_pipeline)),
    val=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
             img_prefix=data_root + 'leftImg8bit/val/', pipeline=test_pipeline),
    test=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
              img_prefix=data_root + 'leftImg8bit/val/', pipeline=test_pipeline))
load_from = None
runner = dict(max_epochs=1)
lr_config = dict(warmup_iters=1)
log_config = dict(interval=1)
evaluation = dict(interval=100)
'''


def test_train_then_test_with_the_cityscapes_metric(tree, tmp_path, capsys):
    """The guide's flow: convert, train the shipped Cityscapes config (shrunk), test with --eval cityscapes."""
    pytest.importorskip("cityscapesscripts")
    data = tmp_path / "cityscapes"
    shutil.copytree(tree, data)
    assert main(["convert", "cityscapes", str(data), "-o", str(data / "annotations"), "--nproc", "2"]) == 0
    config = tmp_path / "tiny_mask_rcnn_cityscapes.py"
    config.write_text(TINY_MASK_RCNN.format(root=REPO, data=data))
    os.environ.setdefault("DETCLI_NO_PROGRESS", "1")
    assert main(["train", str(config), "--work-dir", str(tmp_path / "work"), "--seed", "0"]) == 0
    log = [json.loads(line) for line in next((tmp_path / "work").glob("*.log.json")).read_text().splitlines()[1:]]
    train_lines = [row for row in log if row.get("mode") == "train"]
    assert len(train_lines) == 2 and all(np.isfinite(row["loss"]) for row in train_lines)  # 4 images, batch 2
    capsys.readouterr()
    assert main(["test", str(config), str(tmp_path / "work" / "latest.pth"), "--eval", "cityscapes"]) == 0
    out = capsys.readouterr().out
    assert "Evaluating in Cityscapes style" in out
    rows = {line.split()[1]: float(line.split()[3]) for line in out.splitlines() if line.startswith("│ ")
            and line.split()[1] in ("mAP", "AP@50")}
    assert set(rows) == {"mAP", "AP@50"} and all(0.0 <= v <= 1.0 for v in rows.values())


def test_make_data_cityscapes_cli_is_reproducible(tmp_path, capsys):
    args = ["--num-train", "2", "--num-val", "1", "--num-test", "0", "--width", "96", "--height", "48", "--seed", "5"]
    assert main(["make-data", "cityscapes", str(tmp_path / "a"), *args]) == 0
    assert "train: 2 images" in capsys.readouterr().out
    assert main(["make-data", "cityscapes", str(tmp_path / "b"), *args]) == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 3 * 4  # image, polygons, instanceIds, labelIds per image
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
