"""``det convert voc DEVKIT``: Pascal VOC XML annotations to COCO json or the middle format.

Follows mmdetection 2.x's ``tools/dataset_converters/pascal_voc.py``: for each of
``VOC2007``, ``VOC2012`` (and both together, ``voc0712``) and each split list in
``ImageSets/Main`` (``train``, ``val``, ``trainval``; ``test`` for a single year) it writes
``<prefix>_<split>.json`` (COCO) or ``.pkl`` (the middle format: a list of
``{filename, width, height, ann: {bboxes, labels, bboxes_ignore, labels_ignore}}``).
Boxes are shifted by -1 (VOC counts pixels from 1); ``difficult`` objects become ignored
boxes, in COCO ``iscrowd=1``. Image and category ids count from 0 as there; annotation ids
start at 1 (mmdetection starts at 0, but pycocotools' COCOeval never matches an annotation
with id 0). File names are relative to DEVKIT (``VOC2007/JPEGImages/<id>.jpg``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detcli.data.file_io import dump, list_from_file
from detcli.errors import DataError
from detcli.evaluation.class_names import voc_classes

YEAR_PREFIXES = {("2007",): "voc07", ("2012",): "voc12", ("2007", "2012"): "voc0712"}
SPLITS = ("train", "val", "trainval")


def _silent(total: int) -> Any:
    from detcli.apis.progress import progress_bar

    return progress_bar(total, enabled=False)


def parse_annotation(xml_path: str, img_path: str, label_ids: dict[str, int]) -> dict[str, Any]:
    """One middle-format entry from one VOC XML file."""
    from detcli.data.datasets.xml_style import parse_voc_xml

    parsed = parse_voc_xml(xml_path)
    if parsed["size"] is None:
        raise DataError(f"{xml_path}: no <size> with <width> and <height>")
    kept: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    for k, (name, difficult, box) in enumerate(parsed["objects"]):
        if name not in label_ids:
            raise DataError(f"{xml_path}: <object> {k} has class {name!r}, which is not one of the "
                            f"{len(label_ids)} classes", hint="give the dataset's class names with --classes")
        boxes, labels = kept[bool(difficult)]
        boxes.append(box)
        labels.append(label_ids[name])

    def arrays(boxes: list, labels: list) -> tuple[np.ndarray, np.ndarray]:
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
        return (np.array(boxes, ndmin=2) - 1).astype(np.float32), np.array(labels, np.int64)

    bboxes, labels = arrays(*kept[False])
    bboxes_ignore, labels_ignore = arrays(*kept[True])
    width, height = parsed["size"]
    return dict(filename=img_path, width=width, height=height,
                ann=dict(bboxes=bboxes, labels=labels, bboxes_ignore=bboxes_ignore, labels_ignore=labels_ignore))


def _coco_annotation(ann_id: int, image_id: int, label: int, box: np.ndarray, crowd: bool) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    w, h = x2 - x1, y2 - y1
    corners = [int(x1), int(y1), int(x1), int(y2), int(x2), int(y2), int(x2), int(y1)]
    return dict(segmentation=[corners], area=int(w * h), ignore=0, iscrowd=int(crowd), image_id=image_id,
                bbox=[int(x1), int(y1), int(w), int(h)], category_id=int(label), id=ann_id)


def to_coco(annotations: Sequence[dict[str, Any]], classes: Sequence[str]) -> dict[str, Any]:
    """COCO dict from middle-format entries: boxes as rectangles, difficult ones as crowd."""
    coco: dict[str, Any] = dict(images=[], type="instance", categories=[], annotations=[])
    coco["categories"] = [dict(supercategory="none", id=i, name=name) for i, name in enumerate(classes)]
    seen: set[str] = set()
    for image_id, entry in enumerate(annotations):
        if entry["filename"] in seen:
            raise DataError(f"{entry['filename']} is listed twice", hint="remove the duplicate id from the split list")
        seen.add(entry["filename"])
        coco["images"].append(dict(id=image_id, file_name=entry["filename"], height=int(entry["height"]),
                                   width=int(entry["width"])))
        ann = entry["ann"]
        for boxes, labels, crowd in ((ann["bboxes"], ann["labels"], False),
                                     (ann["bboxes_ignore"], ann["labels_ignore"], True)):
            for box, label in zip(boxes, labels):
                coco["annotations"].append(_coco_annotation(len(coco["annotations"]) + 1, image_id, label, box, crowd))
    return coco


def _jobs(devkit: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """``(output name, years, split)`` in the order mmdetection writes them."""
    years = tuple(y for y in ("2007", "2012") if (devkit / f"VOC{y}").is_dir())
    if not years:
        raise DataError(f"{devkit} holds neither a VOC2007 nor a VOC2012 folder",
                        hint="DEVKIT is the VOCdevkit folder (the one with VOC2007/ and VOC2012/)")
    groups = [(y,) for y in years] + ([years] if len(years) == 2 else [])
    jobs = []
    for group in groups:
        prefix = YEAR_PREFIXES[group]
        jobs += [(f"{prefix}_{split}", group, split) for split in SPLITS]
        if len(group) == 1:
            jobs.append((f"{prefix}_test", group, "test"))
    return jobs


def convert_voc(devkit: str | os.PathLike, out_dir: str | os.PathLike | None = None, out_format: str = "coco",
                classes: Sequence[str] | None = None,
                progress: Callable[[int], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Write every split DEVKIT has; returns per output name ``{file, images, instances}`` or ``{skipped}``.

    ``classes`` defaults to the 20 VOC classes; ``progress(n)`` is a context-manager factory whose
    value has ``advance(k)`` (one step per XML file read).
    """
    if out_format not in ("coco", "pkl"):
        raise DataError(f"unknown output format {out_format!r}", hint="use coco or pkl")
    devkit = Path(devkit)
    out = Path(out_dir) if out_dir is not None else devkit
    classes = tuple(classes) if classes else tuple(voc_classes())
    label_ids = {name: i for i, name in enumerate(classes)}
    plan, summary = [], {}
    for name, years, split in _jobs(devkit):
        summary[name] = {}  # keeps the outputs in mmdetection's order
        lists = [devkit / f"VOC{y}" / "ImageSets" / "Main" / f"{split}.txt" for y in years]
        missing = [str(p) for p in lists if not p.is_file()]
        if missing:
            summary[name] = dict(skipped=f"no {missing[0]}")
            continue
        ids = [(y, i.strip()) for y, p in zip(years, lists) for i in list_from_file(p, what="image list") if i.strip()]
        plan.append((name, ids))
    cache: dict[tuple[str, str], dict[str, Any]] = {}
    total = sum(len(ids) for _, ids in plan)
    with (progress or _silent)(total) as bar:
        for name, ids in plan:
            entries = []
            for year, img_id in ids:
                if (year, img_id) not in cache:
                    xml = devkit / f"VOC{year}" / "Annotations" / f"{img_id}.xml"
                    cache[year, img_id] = parse_annotation(str(xml), f"VOC{year}/JPEGImages/{img_id}.jpg", label_ids)
                entries.append(cache[year, img_id])
                bar.advance(1)
            path = out / f"{name}.{'json' if out_format == 'coco' else 'pkl'}"
            dump(to_coco(entries, classes) if out_format == "coco" else entries, path)
            summary[name] = dict(file=str(path), images=len(entries),
                                 instances=sum(len(e["ann"]["labels"]) + len(e["ann"]["labels_ignore"])
                                               for e in entries))
    return summary

