"""pycocotools' ``COCO`` built from an already parsed dict, quietly, with snake_case aliases."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

from pycocotools.coco import COCO as _PyCOCO

from detcli.errors import DataError


class COCO(_PyCOCO):
    """pycocotools COCO plus the ``get_ann_ids``/``load_imgs``... names mmdetection 2.x code calls."""

    def __init__(self, annotation: str | dict | None = None) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
            if isinstance(annotation, dict):
                super().__init__()
                self.dataset = annotation
                self.createIndex()
            else:
                super().__init__(annotation)

    def createIndex(self) -> None:  # noqa: N802 - pycocotools name
        renumber_annotation_id_zero(self.dataset)
        with contextlib.redirect_stdout(io.StringIO()):
            super().createIndex()

    @property
    def img_ann_map(self) -> dict:
        return self.imgToAnns

    @property
    def cat_img_map(self) -> dict:
        return self.catToImgs

    def get_ann_ids(self, img_ids: Any = (), cat_ids: Any = (), area_rng: Any = (), iscrowd: Any = None) -> list[int]:
        return self.getAnnIds(list(img_ids), list(cat_ids), list(area_rng), iscrowd)

    def get_cat_ids(self, cat_names: Any = (), sup_names: Any = (), cat_ids: Any = ()) -> list[int]:
        return self.getCatIds(list(cat_names), list(sup_names), list(cat_ids))

    def get_img_ids(self, img_ids: Any = (), cat_ids: Any = ()) -> list[int]:
        return self.getImgIds(list(img_ids), list(cat_ids))

    def load_anns(self, ids: Any) -> list[dict]:
        return self.loadAnns(ids)

    def load_cats(self, ids: Any) -> list[dict]:
        return self.loadCats(ids)

    def load_imgs(self, ids: Any) -> list[dict]:
        return self.loadImgs(ids)


def renumber_annotation_id_zero(data: dict) -> None:
    """Give an annotation with ``id`` 0 the next free id, in place.

    pycocotools' COCOeval records a match as the matched annotation's id, so a ground-truth
    box with id 0 counts as never found: every AP drops (a set of perfect detections scored
    0.83 instead of 1.0). Converters that number from 0 (mmdetection 2.x's pascal_voc.py) write
    such files; the ids mean nothing else, so the annotation is renumbered, with one warning.
    """
    anns = data.get("annotations") if isinstance(data, dict) else None
    if not anns:
        return
    zero = [a for a in anns if isinstance(a, dict) and a.get("id") == 0]
    if not zero:
        return
    next_id = max(int(a.get("id", 0)) for a in anns if isinstance(a, dict)) + 1
    zero[0]["id"] = next_id
    logging.getLogger("detcli").warning(
        "annotation id 0 (image %s) renumbered to %d: COCO evaluation cannot count an annotation with id 0",
        zero[0].get("image_id"), next_id)


def check_coco_dict(data: Any, source: str, need_annotations: bool = True) -> None:
    """Fail with one line when ``data`` is not a COCO instances dict.

    ``need_annotations=False`` accepts an image-info file without ``annotations`` (what
    COCO test-dev ships: ``image_info_test-dev2017.json``), for testing and formatting.
    """
    if not isinstance(data, dict):
        raise DataError(f"{source} is not a COCO annotation file: the top level is a {type(data).__name__}, "
                        "not an object", hint="a COCO file has 'images', 'annotations' and 'categories'")
    required = ("images", "annotations", "categories") if need_annotations else ("images", "categories")
    missing = [k for k in required if k not in data]
    if missing:
        hint = "a COCO file has 'images', 'annotations' and 'categories'"
        if missing == ["annotations"]:
            hint += "; an image-info file without annotations (COCO test-dev) works in test mode only"
        raise DataError(f"{source} is not a COCO annotation file: no {missing} key", hint=hint)
    for key, fields in (("images", ("id", "file_name", "width", "height")),
                        ("annotations", ("id", "image_id", "category_id", "bbox")),
                        ("categories", ("id", "name"))):
        for i, entry in enumerate(data.get(key, ())):
            absent = [f for f in fields if f not in entry]
            if absent:
                raise DataError(f"{source}: {key}[{i}] has no {absent}")
