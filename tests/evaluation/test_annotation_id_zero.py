"""A ground-truth file whose annotation ids start at 0 (mmdetection 2.x's VOC converter writes such
files) is scored like any other: pycocotools' matcher would never count the annotation with id 0."""

from __future__ import annotations

import json
import logging

import numpy as np

from detcli.data.datasets.coco_api import COCO
from detcli.registry import DATASETS, build_from_cfg


def _gt(first_id: int) -> dict:
    images = [{"id": i, "file_name": f"{i}.png", "width": 100, "height": 100} for i in (1, 2)]
    anns = []
    for k, (img, x) in enumerate([(1, 5), (1, 50), (2, 10), (2, 60)], start=first_id):
        anns.append({"id": k, "image_id": img, "category_id": 1, "bbox": [x, x / 2, 30, 20], "area": 600.0,
                     "iscrowd": 0})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}


def _perfect_results(gt: dict) -> list[list[np.ndarray]]:
    out = []
    for img in gt["images"]:
        boxes = [[x, y, x + w, y + h, 0.9] for a in gt["annotations"] if a["image_id"] == img["id"]
                 for x, y, w, h in [a["bbox"]]]
        out.append([np.array(boxes, np.float32)])
    return out


def _dataset(tmp_path, gt: dict):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(gt))
    return build_from_cfg(dict(type="CocoDataset", ann_file=str(path), img_prefix=str(tmp_path), pipeline=[],
                               classes=("thing",), test_mode=True), DATASETS)


def test_ids_from_zero_score_as_ids_from_one(tmp_path, caplog):
    gt = _gt(first_id=0)
    with caplog.at_level(logging.WARNING, logger="detcli"):
        dataset = _dataset(tmp_path, gt)
    assert "annotation id 0" in caplog.text
    out = dataset.evaluate(_perfect_results(gt), metric="bbox", logger="silent")
    assert out["bbox_mAP"] == 1.0 and out["bbox_mAP_75"] == 1.0


def test_renumbering_takes_the_next_free_id_and_keeps_the_others():
    coco = COCO(_gt(first_id=0))
    assert sorted(coco.anns) == [1, 2, 3, 4]
    assert coco.anns[4]["bbox"] == [5, 2.5, 30, 20]  # the former id 0
    untouched = COCO(_gt(first_id=1))
    assert sorted(untouched.anns) == [1, 2, 3, 4] and untouched.anns[1]["bbox"] == [5, 2.5, 30, 20]
