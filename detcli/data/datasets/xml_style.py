"""Pascal-VOC-style datasets: an image-id list file plus one XML file per image."""

from __future__ import annotations

import logging
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from detcli.data.datasets.custom import CustomDataset
from detcli.data.file_io import list_from_file
from detcli.data.image_io import imread
from detcli.errors import DataError
from detcli.registry import DATASETS

logger = logging.getLogger("detcli")


def parse_voc_xml(path: str) -> dict[str, Any]:
    """``{'size': (w, h) or None, 'objects': [(name, difficult, [xmin, ymin, xmax, ymax]), ...]}``."""
    if not osp.isfile(path):
        raise DataError(f"annotation file not found: {path}", hint="every id in the list file needs "
                        "<img_prefix>/<ann_subdir>/<id>.xml")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DataError(f"malformed XML in {path}: {err}") from None
    size = root.find("size")
    wh = None
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        wh = (int(float(size.find("width").text)), int(float(size.find("height").text)))
    objects = []
    for obj in root.findall("object"):
        name_node, box = obj.find("name"), obj.find("bndbox")
        if name_node is None or box is None:
            raise DataError(f"{path}: an <object> without <name> or <bndbox>")
        difficult = obj.find("difficult")
        try:
            coords = [int(float(box.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (AttributeError, TypeError, ValueError):
            raise DataError(f"{path}: object {name_node.text!r} has a malformed <bndbox>") from None
        objects.append((name_node.text, 0 if difficult is None else int(difficult.text), coords))
    return {"size": wh, "objects": objects}


@DATASETS.register_module()
class XMLDataset(CustomDataset):
    """VOC-like custom sets: ``ann_file`` lists image ids; images are
    ``img_prefix/img_subdir/<id>.jpg`` and boxes ``img_prefix/ann_subdir/<id>.xml``.

    ``difficult`` objects (and, with ``min_size``, small ones) go to ``bboxes_ignore``;
    objects of classes not in ``CLASSES`` are ignored. Boxes are shifted by -1 (VOC's
    1-based pixel indices) as mmdetection 2.x does.
    """

    def __init__(self, min_size: int | None = None, img_subdir: str = "JPEGImages", ann_subdir: str = "Annotations",
                 **kwargs: Any) -> None:
        if not (self.CLASSES or kwargs.get("classes")):
            raise DataError(f"{type(self).__name__} needs classes", hint="set classes=(...) in the dataset config")
        self.img_subdir = img_subdir
        self.ann_subdir = ann_subdir
        self.min_size = min_size
        self._xml: dict[str, dict] = {}
        super().__init__(**kwargs)
        self.cat2label = {name: i for i, name in enumerate(self.CLASSES)}

    def _xml_path(self, img_id: str) -> str:
        return osp.join(self.img_prefix or "", self.ann_subdir, f"{img_id}.xml")

    def _parsed(self, img_id: str) -> dict[str, Any]:
        if img_id not in self._xml:
            self._xml[img_id] = parse_voc_xml(self._xml_path(img_id))
        return self._xml[img_id]

    def load_annotations(self, ann_file: str) -> list[dict]:
        infos = []
        for img_id in (line.strip() for line in list_from_file(ann_file, what="image list")):
            if not img_id:
                continue
            filename = osp.join(self.img_subdir, f"{img_id}.jpg")
            size = self._parsed(img_id)["size"]
            if size is None:  # no <size>: read the image header
                h, w = imread(osp.join(self.img_prefix or "", filename), "unchanged").shape[:2]
                size = (w, h)
            infos.append(dict(id=img_id, filename=filename, width=size[0], height=size[1]))
        wanted = set(self.CLASSES)
        other = sum(o[0] not in wanted for info in infos for o in self._parsed(info["id"])["objects"])
        if other:
            logger.info("%d objects in the XML files of %s have classes outside CLASSES; ignored", other, ann_file)
        self.num_ignored_annotations = other
        return infos

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        keep = []
        for i, info in enumerate(self.data_infos):
            if min(info["width"], info["height"]) < min_size:
                continue
            if self.filter_empty_gt and not any(o[0] in self.CLASSES for o in self._parsed(info["id"])["objects"]):
                continue
            keep.append(i)
        return keep

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        info = self.data_infos[idx]
        label_of = {name: i for i, name in enumerate(self.CLASSES)}
        boxes: list[list[int]] = []
        labels: list[int] = []
        boxes_ignore: list[list[int]] = []
        labels_ignore: list[int] = []
        for name, difficult, box in self._parsed(info["id"])["objects"]:
            if name not in label_of:
                continue
            small = bool(self.min_size) and (box[2] - box[0] < self.min_size or box[3] - box[1] < self.min_size)
            if difficult or small:
                boxes_ignore.append(box)
                labels_ignore.append(label_of[name])
            else:
                boxes.append(box)
                labels.append(label_of[name])

        def as_boxes(values: list) -> np.ndarray:
            arr = np.array(values, dtype=np.float32).reshape(-1, 4) - (1 if values else 0)
            arr[:, 0::2] = arr[:, 0::2].clip(0, info["width"])
            arr[:, 1::2] = arr[:, 1::2].clip(0, info["height"])
            return arr

        return dict(bboxes=as_boxes(boxes), labels=np.array(labels, dtype=np.int64),
                    bboxes_ignore=as_boxes(boxes_ignore), labels_ignore=np.array(labels_ignore, dtype=np.int64))

    def get_cat_ids(self, idx: int) -> list[int]:
        label_of = {name: i for i, name in enumerate(self.CLASSES)}
        return [label_of[o[0]] for o in self._parsed(self.data_infos[idx]["id"])["objects"] if o[0] in label_of]
