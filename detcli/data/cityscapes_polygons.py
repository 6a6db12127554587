"""Cityscapes ``*_gtFine_polygons.json`` files: reading them with checks, and drawing the
instance-id and label-id images they describe.

The drawing follows the official tools (cityscapesscripts' ``json2instanceImg`` and
``json2labelImg``): objects are painted in file order with Pillow's polygon fill, later
ones on top; ``deleted`` objects are skipped; ``<label>group`` names mark crowd regions,
which keep the plain label id; the k-th instance of a label with instances gets
``label_id * 1000 + k``; labels with a negative id are not drawn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from detcli.data.cityscapes_labels import NAME_TO_LABEL, CityscapesLabel
from detcli.errors import DataError


def load_polygons(path: str | os.PathLike) -> dict[str, Any]:
    """The annotation of one image: ``{'imgHeight', 'imgWidth', 'objects': [{'label', 'polygon', ...}]}``.

    A malformed file raises ``DataError`` naming the file and the element at fault.
    """
    path = Path(path)
    try:
        ann = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"Cityscapes polygon file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"malformed JSON in {path}: {err}") from None
    if not isinstance(ann, dict):
        raise DataError(f"{path}: expected a JSON object with imgHeight, imgWidth and objects")
    for key in ("imgHeight", "imgWidth"):
        if not isinstance(ann.get(key), int) or ann[key] <= 0:
            raise DataError(f"{path}: '{key}' must be a positive integer, got {ann.get(key)!r}")
    objects = ann.get("objects")
    if not isinstance(objects, list):
        raise DataError(f"{path}: 'objects' must be a list, got {type(objects).__name__}")
    for i, obj in enumerate(objects):
        where = f"{path}: objects[{i}]"
        if not isinstance(obj, dict) or not isinstance(obj.get("label"), str):
            raise DataError(f"{where} needs a string 'label'")
        poly = obj.get("polygon")
        if (not isinstance(poly, list) or not poly or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)
                for p in poly)):
            raise DataError(f"{where} (label {obj['label']!r}): 'polygon' must be a non-empty list of [x, y] points")
        label_of(obj["label"], where)
    return ann


def label_of(name: str, where: str = "") -> tuple[CityscapesLabel, bool]:
    """The label of an object name and whether it is a crowd (``'cargroup'`` -> car, True)."""
    if name in NAME_TO_LABEL:
        return NAME_TO_LABEL[name], False
    if name.endswith("group") and name[: -len("group")] in NAME_TO_LABEL:
        return NAME_TO_LABEL[name[: -len("group")]], True
    raise DataError(f"{where}: unknown Cityscapes label {name!r}",
                    hint="labels are the names of the official Cityscapes label table (e.g. 'car', 'cargroup')")


def _draw(ann: dict[str, Any], instance_ids: bool) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("I", (ann["imgWidth"], ann["imgHeight"]), NAME_TO_LABEL["unlabeled"].id)
    drawer = ImageDraw.Draw(canvas)
    counts: dict[str, int] = {}
    for obj in ann["objects"]:
        if obj.get("deleted"):
            continue
        label, is_group = label_of(obj["label"])
        value = label.id
        if instance_ids and label.has_instances and not is_group:
            value = label.id * 1000 + counts.get(label.name, 0)
            counts[label.name] = counts.get(label.name, 0) + 1
        if value < 0:
            continue
        drawer.polygon([(p[0], p[1]) for p in obj["polygon"]], fill=value)
    return np.asarray(canvas, dtype=np.int32)


def draw_instance_ids(ann: dict[str, Any]) -> np.ndarray:
    """The ``*_gtFine_instanceIds.png`` content (int32 H x W) that ``ann`` describes."""
    return _draw(ann, instance_ids=True)


def draw_label_ids(ann: dict[str, Any]) -> np.ndarray:
    """The ``*_gtFine_labelIds.png`` content (int32 H x W, values 0..33) that ``ann`` describes."""
    return _draw(ann, instance_ids=False)
