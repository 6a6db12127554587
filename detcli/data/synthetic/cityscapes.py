"""A small generated tree in the Cityscapes layout (``det make-data cityscapes``).

``leftImg8bit/<split>/<city>/<city>_<seq>_000019_leftImg8bit.png`` images and, per image,
``gtFine/<split>/<city>/..._gtFine_{polygons.json,instanceIds.png,labelIds.png}`` as the
official download has them: road, building and sky as stuff polygons, then objects of the
8 evaluated classes (each class its own outline and colour), sometimes a crowd region
(``cargroup``/``persongroup``) and an object of an ignored class (``caravan``). Objects
do not overlap, so every annotated polygon is a visible instance. The id images are drawn
from the polygons as the official tools draw them. The test split has no objects (like
the real one, whose annotations are withheld).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from detcli.data.cityscapes_labels import INSTANCE_LABELS, NAME_TO_LABEL
from detcli.data.cityscapes_polygons import draw_instance_ids, draw_label_ids
from detcli.visualization.image_io import write_image

CITIES = {"train": ("aachen", "bremen"), "val": ("frankfurt",), "test": ("berlin",)}
# BGR colours of the labels drawn (the official Cityscapes colours).
_COLOURS = {
    7: (128, 64, 128), 11: (70, 70, 70), 23: (180, 130, 70), 24: (60, 20, 220), 25: (0, 0, 255),
    26: (142, 0, 0), 27: (70, 0, 0), 28: (100, 60, 0), 29: (90, 0, 0), 31: (100, 80, 0), 32: (230, 0, 0),
    33: (32, 11, 119),
}
# Outline of each class in a unit box: (x, y) corners, so that shape tells the classes apart.
_OUTLINES = {
    "person": [(0.3, 0), (0.7, 0), (1, 0.4), (0.8, 1), (0.2, 1), (0, 0.4)],
    "rider": [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)],
    "car": [(0.15, 0), (0.85, 0), (1, 0.5), (1, 1), (0, 1), (0, 0.5)],
    "truck": [(0, 0), (0.6, 0), (0.6, 0.3), (1, 0.3), (1, 1), (0, 1)],
    "bus": [(0, 0), (1, 0), (1, 1), (0, 1)],
    "train": [(0.1, 0), (0.9, 0), (1, 0.2), (1, 1), (0, 1), (0, 0.2)],
    "motorcycle": [(0.5, 0), (1, 1), (0, 1)],
    "bicycle": [(0.25, 0), (0.75, 0), (1, 0.5), (0.75, 1), (0.25, 1), (0, 0.5)],
    "caravan": [(0, 0.2), (1, 0), (1, 1), (0, 1)],
}
_ASPECT = {"person": 2.2, "rider": 1.6, "car": 0.5, "truck": 0.8, "bus": 0.6, "train": 0.35, "motorcycle": 1.0,
           "bicycle": 0.8, "caravan": 0.7}  # height / width


def _stuff(width: int, height: int) -> list[dict]:
    sky, road = int(height * 0.3), int(height * 0.55)
    return [
        dict(label="sky", polygon=[[0, 0], [width - 1, 0], [width - 1, sky], [0, sky]]),
        dict(label="building", polygon=[[0, sky], [width - 1, sky], [width - 1, road], [0, road]]),
        dict(label="road", polygon=[[0, road], [width - 1, road], [width - 1, height - 1], [0, height - 1]]),
    ]


def _try_place(name: str, width: int, height: int, taken: list, rng: np.random.Generator) -> list | None:
    w = int(rng.uniform(0.1, 0.25) * width)
    h = max(8, min(int(w * _ASPECT[name]), height // 2))
    w = max(8, w)
    x0 = int(rng.integers(0, width - w))
    y0 = int(rng.integers(int(height * 0.25), height - h))
    box = (x0 - 2, y0 - 2, x0 + w + 2, y0 + h + 2)
    if any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
        return None
    taken.append(box)
    return [[int(round(x0 + u * (w - 1))), int(round(y0 + v * (h - 1)))] for u, v in _OUTLINES[name]]


def sample_annotation(width: int, height: int, rng: np.random.Generator, with_objects: bool = True) -> dict:
    """One image's polygons: stuff first, then non-overlapping objects (crowds and ignored classes too)."""
    objects = _stuff(width, height)
    if with_objects:
        taken: list = []
        names = [INSTANCE_LABELS[i].name for i in rng.integers(0, len(INSTANCE_LABELS), int(rng.integers(1, 6)))]
        if rng.random() < 0.4:
            names.append(str(rng.choice(["cargroup", "persongroup"])))
        if rng.random() < 0.3:
            names.append("caravan")
        for name in names:
            shape = name[: -len("group")] if name.endswith("group") else name
            for _ in range(20):  # a few tries to find free space
                polygon = _try_place(shape, width, height, taken, rng)
                if polygon is not None:
                    objects.append(dict(label=name, polygon=polygon))
                    break
    return dict(imgHeight=height, imgWidth=width, objects=objects)


def render_image(label_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A BGR picture of a label image: each label its colour, plus noise and a vertical shade."""
    img = np.zeros((*label_ids.shape, 3), np.float32)
    for label_id, colour in _COLOURS.items():
        img[label_ids == label_id] = colour
    shade = np.linspace(-20, 20, label_ids.shape[0], dtype=np.float32)[:, None, None]
    img += shade + rng.normal(0, 12, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_cityscapes(out_dir: str | os.PathLike, num_train: int = 6, num_val: int = 3, num_test: int = 2,
                        width: int = 256, height: int = 128, seed: int = 0) -> dict[str, dict[str, int]]:
    """Write the tree under ``out_dir``; returns per split the number of images and annotated objects."""
    out = Path(out_dir)
    summary = {}
    for split_index, (split, count) in enumerate((("train", num_train), ("val", num_val), ("test", num_test))):
        objects = 0
        for i in range(count):
            rng = np.random.default_rng([seed, split_index, i])
            cities = CITIES[split]
            city = cities[i % len(cities)]
            stem = f"{city}_{i:06d}_000019"
            ann = sample_annotation(width, height, rng, with_objects=split != "test")
            label_ids = draw_label_ids(ann)
            gt = out / "gtFine" / split / city
            gt.mkdir(parents=True, exist_ok=True)
            (gt / f"{stem}_gtFine_polygons.json").write_text(json.dumps(ann, indent=1))
            write_image(draw_instance_ids(ann).astype(np.uint16), gt / f"{stem}_gtFine_instanceIds.png")
            write_image(label_ids.astype(np.uint8), gt / f"{stem}_gtFine_labelIds.png")
            write_image(render_image(label_ids, rng), out / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            objects += sum(NAME_TO_LABEL.get(o["label"]) is None or NAME_TO_LABEL[o["label"]].has_instances
                           for o in ann["objects"])
        summary[split] = dict(images=count, objects=objects)
    return summary
