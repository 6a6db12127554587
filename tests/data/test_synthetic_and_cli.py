"""The shapes generator (determinism, annotation validity, masks on the pixels), `det make-data`
and `det browse-dataset`."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO

from detcli.cli import main
from detcli.data.synthetic import SHAPE_CLASSES, generate_shapes, sample_scene
from detcli.data.synthetic.shapes import rasterise

CONFIG = Path(__file__).resolve().parents[2] / "configs/_base_/datasets/shapes_instance.py"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic(tmp_path):
    generate_shapes(tmp_path / "a", num_train=4, num_val=2, size=96, seed=7)
    generate_shapes(tmp_path / "b", num_train=4, num_val=2, size=96, seed=7, workers=2)  # processes: same files
    generate_shapes(tmp_path / "c", num_train=4, num_val=2, size=96, seed=8)
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    assert a.keys() == c.keys() and a["annotations/instances_train.json"] != c["annotations/instances_train.json"]
    assert a["train/000000.png"] != c["train/000000.png"]


def test_coco_annotations_are_valid(shapes_root):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(shapes_root / "annotations/instances_train.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_CLASSES)
    assert len(coco.getImgIds()) == 12 and (shapes_root / "classes.txt").read_text().split() == list(SHAPE_CLASSES)
    per_image = [len(coco.getAnnIds(imgIds=[i])) for i in coco.getImgIds()]
    assert min(per_image) >= 1 and max(per_image) <= 6
    sizes = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs([ann["image_id"]])[0]
        assert ann["iscrowd"] == 0 and ann["category_id"] in (1, 2, 3, 4)
        mask = coco.annToMask(ann).astype(bool)
        assert mask.sum() == ann["area"] > 0
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(mask)
        # masks lie inside their boxes (to rasterisation precision) and the boxes are tight
        assert xs.min() >= np.floor(x) - 0.5 and xs.max() + 1 <= np.ceil(x + w) + 0.5
        assert ys.min() >= np.floor(y) - 0.5 and ys.max() + 1 <= np.ceil(y + h) + 0.5
        assert abs(xs.min() - x) <= 1.5 and abs(ys.max() + 1 - (y + h)) <= 1.5
        assert 0 <= x and 0 <= y and x + w <= img["width"] and y + h <= img["height"]
        sizes.append(max(w, h) / img["width"])
    assert min(sizes) > 0.04 and max(sizes) <= 0.41


def test_scene_masks_match_the_painted_pixels():
    """Each object's pixels differ from the ring just outside its mask; masks barely overlap."""
    rng = np.random.default_rng(0)
    contrasts, occluded = [], 0
    for _ in range(15):
        img, objects = sample_scene(128, rng)
        masks = [rasterise(o.polygons, 128).astype(bool) for o in objects]
        total = np.sum(masks, axis=0)
        assert (total > 1).sum() <= 3 * len(objects)  # visible parts do not overlap
        for obj, mask in zip(objects, masks):
            occluded += len(obj.polygons) > 1 or len(obj.polygons[0]) != obj.outline.size
            inside = img[cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)].astype(float)
            ring = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask & (total == 0)
            if inside.size and ring.sum() > 10:
                contrasts.append(np.abs(inside.mean(0) - img[ring].astype(float).mean(0)).sum())
            # the object's own colour fills its mask: low spread around its shading
            assert inside.std(0).max() < 40
    assert np.median(contrasts) > 60 and occluded > 0


def test_difficulty_knobs(tmp_path):
    import pytest

    from detcli.data.synthetic import SceneSpec

    rng = np.random.default_rng(3)
    counts, extents = [], []
    for _ in range(10):
        _, objects = sample_scene(128, rng, SceneSpec(min_objects=2, max_objects=2, scale_range=(0.3, 0.35)))
        counts.append(len(objects))
        extents += [float((o.outline.max(0) - o.outline.min(0)).max()) / 128 for o in objects]
    assert max(counts) == 2 and min(counts) >= 1  # a placement that would hide too much is skipped
    assert min(extents) >= 0.3 - 1e-6 and max(extents) <= 0.35 + 1e-6
    with pytest.raises(ValueError):
        SceneSpec(min_objects=3, max_objects=2)
    summary = generate_shapes(tmp_path, num_train=3, num_val=0, size=64, max_objects=1)
    assert summary["train"] == {"images": 3, "instances": 3}


def test_visible_fraction_rule_and_classes_by_shape():
    rng = np.random.default_rng(1)
    labels = set()
    for _ in range(20):
        _, objects = sample_scene(128, rng)
        for obj in objects:
            labels.add(obj.label)
            full = rasterise([obj.outline.reshape(-1)], 128).sum()
            visible = rasterise(obj.polygons, 128).sum()
            assert visible >= 0.55 * full  # at least ~60% visible (traced on a finer grid)
    assert labels == {0, 1, 2, 3}


def test_voc_and_middle_outputs_agree_with_coco(shapes_root):
    data = json.loads((shapes_root / "annotations/instances_val.json").read_text())
    ids = (shapes_root / "VOC2007/ImageSets/Main/val.txt").read_text().split()
    assert ids == [f"val_{i:06d}" for i in range(4)]
    assert (shapes_root / "VOC2007/JPEGImages/val_000003.jpg").is_file()
    xml = (shapes_root / "VOC2007/Annotations/val_000000.xml").read_text()
    assert xml.count("<object>") == sum(a["image_id"] == 1 for a in data["annotations"])
    middle = json.loads((shapes_root / "annotations/middle_val.json").read_text())
    assert [m["filename"] for m in middle] == [im["file_name"] for im in data["images"]]
    first = [a for a in data["annotations"] if a["image_id"] == 1]
    np.testing.assert_allclose(middle[0]["ann"]["bboxes"], [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                                            a["bbox"][1] + a["bbox"][3]] for a in first])
    assert middle[0]["ann"]["labels"] == [a["category_id"] - 1 for a in first]
    rle = mask_utils.frPyObjects(first[0]["segmentation"], 128, 128)
    assert mask_utils.area(mask_utils.merge(rle)) == first[0]["area"]


def _run(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_make_data_cli(tmp_path):
    code, out, _ = _run(["make-data", "shapes", str(tmp_path / "s"), "--num-train", "3", "--num-val", "1",
                         "--size", "64", "--seed", "2", "--voc", "--middle", "--workers", "1"])
    assert code == 0 and "train: 3 images" in out
    assert sorted(p.name for p in (tmp_path / "s/train").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert (tmp_path / "s/annotations/middle_train.pkl").is_file() and (tmp_path / "s/VOC2007/Annotations").is_dir()
    assert cv2.imread(str(tmp_path / "s/val/000000.png")).shape == (64, 64, 3)
    code, _, err = _run(["make-data", "shapes", str(tmp_path / "t"), "--size", "8"])
    assert code != 0
    code, _, err = _run(["make-data", "shapes", str(tmp_path / "u"), "--min-objects", "4", "--max-objects", "2"])
    assert code == 1 and "min_objects" in err and not (tmp_path / "u").exists()


def test_browse_dataset_writes_annotated_images(shapes_root, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "")
    out_dir = tmp_path / "vis"
    code, out, err = _run(["browse-dataset", str(CONFIG), "--output-dir", str(out_dir), "--cfg-options",
                           f"data.train.ann_file={shapes_root}/annotations/instances_train.json",
                           f"data.train.img_prefix={shapes_root}/train/", "data.train.pipeline.2.img_scale=(128,128)",
                           "data.train.pipeline.3.flip_ratio=0.0", "--show-interval", "0"])
    assert code == 0, err
    assert "not showing images" in out and "wrote 12 images" in out
    written = sorted(out_dir.iterdir())
    assert len(written) == 12
    drawn = cv2.imread(str(written[0]))
    raw = cv2.imread(str(shapes_root / "train" / written[0].name))
    changed = np.abs(drawn.astype(int) - raw).sum(-1) > 0
    assert drawn.shape == raw.shape and 0.01 < changed.mean() < 0.9  # boxes/masks drawn on top of the image


def test_browse_dataset_skip_types_and_errors(shapes_root, tmp_path):
    from detcli.tools.browse_dataset import browse_dataset, drawable

    # without skipping Normalize/DefaultFormatBundle/Collect the image is recovered for drawing
    n = browse_dataset(CONFIG, output_dir=tmp_path / "v", not_show=True, skip_type=(), progress=False,
                       cfg_options={"data.train.ann_file": f"{shapes_root}/annotations/instances_train.json",
                                    "data.train.img_prefix": f"{shapes_root}/train/",
                                    "data.train.pipeline.3.flip_ratio": 0.0})
    assert n == 12
    from detcli.config import load_config
    from detcli.data import build_dataset

    cfg = load_config(CONFIG, {"data.train.ann_file": f"{shapes_root}/annotations/instances_train.json",
                               "data.train.img_prefix": f"{shapes_root}/train/", "data.train.pipeline.3.flip_ratio": 0.0,
                               "data.train.pipeline.2.img_scale": (128, 128)})
    sample = drawable(build_dataset(cfg.data.train)[0])
    raw = cv2.imread(str(shapes_root / "train/000000.png"))
    assert sample["img"].dtype == np.uint8 and np.abs(sample["img"].astype(int) - raw).max() <= 1
    assert sample["masks"].shape[1:] == (128, 128) and len(sample["bboxes"]) == len(sample["labels"])
    code, _, err = _run(["browse-dataset", str(CONFIG), "--not-show", "--output-dir", str(tmp_path / "x"),
                         "--cfg-options", f"data.train.ann_file={tmp_path}/none.json"])
    assert code == 1 and "annotation file not found" in err and "Traceback" not in err
