"""Writing a generated shapes set: images plus COCO json, and optionally VOC XML and the
middle format (``generate_shapes``)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from detcli.data.file_io import dump
from detcli.data.synthetic.shapes import SHAPE_CLASSES, SceneSpec, sample_scene
from detcli.visualization.image_io import write_image

_SPLIT_IDS = {"train": 0, "val": 1}


def _render(args: tuple[int, str, int, int, SceneSpec]) -> tuple[np.ndarray, list[dict]]:
    """One image and its instances ``{label, polygons, bbox (xyxy), area}`` from its own random stream."""
    seed, split, index, size, spec = args
    img, objects = sample_scene(size, np.random.default_rng([seed, _SPLIT_IDS[split], index]), spec)
    instances = []
    for obj in objects:
        polys = [p.tolist() for p in obj.polygons]
        xy = np.concatenate([p.reshape(-1, 2) for p in obj.polygons], 0)
        x1, y1 = xy.min(0)
        x2, y2 = xy.max(0)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, size, size))
        instances.append(dict(label=obj.label, polygons=polys, bbox=[float(x1), float(y1), float(x2), float(y2)],
                              area=float(mask_utils.area(rle))))
    return img, instances


def _voc_xml(filename: str, size: int, instances: list[dict]) -> ET.ElementTree:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2007"
    ET.SubElement(root, "filename").text = filename
    node = ET.SubElement(root, "size")
    for key, value in (("width", size), ("height", size), ("depth", 3)):
        ET.SubElement(node, key).text = str(value)
    for inst in instances:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = SHAPE_CLASSES[inst["label"]]
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        x1, y1, x2, y2 = inst["bbox"]
        # VOC: 1-based inclusive pixel indices
        for key, value in (("xmin", int(np.floor(x1)) + 1), ("ymin", int(np.floor(y1)) + 1),
                           ("xmax", int(np.ceil(x2))), ("ymax", int(np.ceil(y2)))):
            ET.SubElement(box, key).text = str(value)
    return ET.ElementTree(root)


def _write_split(out: Path, split: str, count: int, size: int, seed: int, spec: SceneSpec, voc: bool, middle: bool,
                 workers: int, progress: Callable[[int], None] | None) -> dict[str, Any]:
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images, annotations, middle_infos, voc_ids = [], [], [], []
    jobs = [(seed, split, i, size, spec) for i in range(count)]
    pool = ProcessPoolExecutor(workers) if workers > 1 and count > 1 else None
    results = pool.map(_render, jobs, chunksize=8) if pool else map(_render, jobs)
    try:
        for i, (img, instances) in enumerate(results):
            name = f"{i:06d}.png"
            write_image(img, img_dir / name, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            images.append(dict(id=i + 1, file_name=name, width=size, height=size))
            for inst in instances:
                x1, y1, x2, y2 = inst["bbox"]
                annotations.append(dict(id=len(annotations) + 1, image_id=i + 1, category_id=inst["label"] + 1,
                                        segmentation=inst["polygons"], area=inst["area"],
                                        bbox=[x1, y1, x2 - x1, y2 - y1], iscrowd=0))
            if middle:
                middle_infos.append(dict(filename=name, width=size, height=size, ann=dict(
                    bboxes=np.array([t["bbox"] for t in instances], np.float32).reshape(-1, 4),
                    labels=np.array([t["label"] for t in instances], np.int64),
                    bboxes_ignore=np.zeros((0, 4), np.float32), labels_ignore=np.zeros(0, np.int64))))
            if voc:
                voc_id = f"{split}_{i:06d}"
                voc_root = out / "VOC2007"
                write_image(img, voc_root / "JPEGImages" / f"{voc_id}.jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])
                (voc_root / "Annotations").mkdir(parents=True, exist_ok=True)
                _voc_xml(f"{voc_id}.jpg", size, instances).write(voc_root / "Annotations" / f"{voc_id}.xml")
                voc_ids.append(voc_id)
            if progress is not None:
                progress(1)
    finally:
        if pool is not None:
            pool.shutdown()
    categories = [dict(id=k + 1, name=name, supercategory="shape") for k, name in enumerate(SHAPE_CLASSES)]
    dump(dict(images=images, annotations=annotations, categories=categories),
         out / "annotations" / f"instances_{split}.json")
    if middle:
        dump(middle_infos, out / "annotations" / f"middle_{split}.pkl")
        as_lists = [dict(i, ann={k: v.tolist() for k, v in i["ann"].items()}) for i in middle_infos]
        dump(as_lists, out / "annotations" / f"middle_{split}.json")
    if voc:
        sets = out / "VOC2007" / "ImageSets" / "Main"
        sets.mkdir(parents=True, exist_ok=True)
        (sets / f"{split}.txt").write_text("".join(f"{v}\n" for v in voc_ids))
    return dict(images=len(images), instances=len(annotations))


def generate_shapes(out_dir: str | os.PathLike, num_train: int = 400, num_val: int = 100, size: int = 320,
                    seed: int = 0, voc: bool = False, middle: bool = False, workers: int = 1,
                    progress: Callable[[int], None] | None = None, min_objects: int = 1, max_objects: int = 6,
                    scale_range: tuple[float, float] = (0.08, 0.40),
                    max_clutter_lines: int = 4) -> dict[str, dict[str, int]]:
    """Write the shapes instance-segmentation set to ``out_dir``.

    Layout: ``train/*.png``, ``val/*.png``, ``annotations/instances_{train,val}.json``
    (COCO, polygon masks, category ids 1..4), ``classes.txt``; with ``voc``:
    ``VOC2007/{JPEGImages,Annotations,ImageSets/Main}``; with ``middle``:
    ``annotations/middle_{train,val}.{pkl,json}``. Same arguments, same files.
    ``min_objects``/``max_objects``, ``scale_range`` (object extent as a fraction of the
    side) and ``max_clutter_lines`` set the difficulty. Returns per split the number of
    images and instances.
    """
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    spec = SceneSpec(min_objects, max_objects, tuple(scale_range), max_clutter_lines)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in SHAPE_CLASSES))
    summary = {}
    for split, count in (("train", num_train), ("val", num_val)):
        summary[split] = _write_split(out, split, count, size, seed, spec, voc, middle, workers, progress)
    return summary
