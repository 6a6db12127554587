"""A tiny COCO-style ground truth with non-contiguous category ids, polygon, RLE and crowd annotations."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

SIZE = 200
CLASSES = ("cat", "dog", "bird")


def _rect_poly(x, y, w, h):
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def _rle_rect(x, y, w, h):
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[y:y + h, x:x + w] = 1
    rle = mask_util.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode()
    return rle


def coco_gt_dict() -> dict:
    images = [{"id": i, "file_name": f"{i}.png", "width": SIZE, "height": SIZE} for i in (11, 12, 13)]
    categories = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 7, "name": "bird"}]
    raw = [
        (11, 1, [10, 10, 100, 100], _rect_poly(10, 10, 100, 100), 0),
        (11, 3, [120, 20, 60, 60], _rect_poly(120, 20, 60, 60), 0),
        (12, 1, [50, 50, 100, 100], _rle_rect(50, 50, 100, 100), 0),
        (12, 7, [0, 120, 50, 50], [[0, 120, 50, 120, 25, 170]], 0),  # a triangle
        (13, 3, [20, 20, 80, 80], _rect_poly(20, 20, 80, 80), 0),
        (13, 1, [120, 120, 60, 60], _rle_rect(120, 120, 60, 60), 1),  # crowd
    ]
    anns = []
    for k, (img, cat, bbox, seg, crowd) in enumerate(raw, start=1):
        anns.append({"id": k, "image_id": img, "category_id": cat, "bbox": bbox, "segmentation": seg,
                     "iscrowd": crowd, "area": float(bbox[2] * bbox[3])})
    coco = {"images": images, "categories": categories, "annotations": anns}
    # areas from the masks themselves
    api = _coco_api(coco)
    for ann in coco["annotations"]:
        ann["area"] = float(api.annToMask(ann).sum())
    return coco


def _coco_api(data: dict) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO()
        api.dataset = copy.deepcopy(data)
        api.createIndex()
    return api


class FakeCocoDataset:
    """The attributes evaluation reads from a COCO dataset (contract 9)."""

    def __init__(self, data: dict | None = None, classes=CLASSES):
        self.coco_dict = data or coco_gt_dict()
        self.coco = _coco_api(self.coco_dict)
        self.CLASSES = classes
        self.cat_ids = self.coco.getCatIds(catNms=list(classes))
        self.cat2label = {c: i for i, c in enumerate(self.cat_ids)}
        self.img_ids = self.coco.getImgIds()
        self.data_infos = [dict(self.coco.imgs[i], filename=self.coco.imgs[i]["file_name"]) for i in self.img_ids]

    def __len__(self):
        return len(self.img_ids)

    def gt_masks(self, img_id):
        """[(label, bbox xyxy, bool mask)] of non-crowd annotations."""
        out = []
        for ann in self.coco.loadAnns(self.coco.getAnnIds(imgIds=[img_id])):
            if ann["iscrowd"]:
                continue
            x, y, w, h = ann["bbox"]
            out.append((self.cat2label[ann["category_id"]], [x, y, x + w, y + h],
                        self.coco.annToMask(ann).astype(bool)))
        return out


@pytest.fixture
def coco_dataset():
    return FakeCocoDataset()
