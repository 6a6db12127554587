"""The Cityscapes label table: names, label ids and which labels have instances.

These are facts of the dataset (the official ``labels.py`` of cityscapesscripts), kept
here so that converting, generating and reading Cityscapes trees needs no extra package.
Pixel values of ``*_gtFine_instanceIds.png``: a label id (``< 1000``) for stuff and for
crowd regions ("cargroup"), ``label_id * 1000 + k`` for the k-th instance of a label.
"""

from __future__ import annotations

from typing import NamedTuple


class CityscapesLabel(NamedTuple):
    name: str
    id: int
    has_instances: bool
    ignore_in_eval: bool


LABELS: tuple[CityscapesLabel, ...] = tuple(CityscapesLabel(*row) for row in (
    ("unlabeled", 0, False, True),
    ("ego vehicle", 1, False, True),
    ("rectification border", 2, False, True),
    ("out of roi", 3, False, True),
    ("static", 4, False, True),
    ("dynamic", 5, False, True),
    ("ground", 6, False, True),
    ("road", 7, False, False),
    ("sidewalk", 8, False, False),
    ("parking", 9, False, True),
    ("rail track", 10, False, True),
    ("building", 11, False, False),
    ("wall", 12, False, False),
    ("fence", 13, False, False),
    ("guard rail", 14, False, True),
    ("bridge", 15, False, True),
    ("tunnel", 16, False, True),
    ("pole", 17, False, False),
    ("polegroup", 18, False, True),
    ("traffic light", 19, False, False),
    ("traffic sign", 20, False, False),
    ("vegetation", 21, False, False),
    ("terrain", 22, False, False),
    ("sky", 23, False, False),
    ("person", 24, True, False),
    ("rider", 25, True, False),
    ("car", 26, True, False),
    ("truck", 27, True, False),
    ("bus", 28, True, False),
    ("caravan", 29, True, True),
    ("trailer", 30, True, True),
    ("train", 31, True, False),
    ("motorcycle", 32, True, False),
    ("bicycle", 33, True, False),
    ("license plate", -1, False, True),
))

NAME_TO_LABEL = {label.name: label for label in LABELS}
ID_TO_LABEL = {label.id: label for label in LABELS}

#: The 8 classes that instance-level evaluation scores (person ... bicycle), in label-id order.
INSTANCE_LABELS: tuple[CityscapesLabel, ...] = tuple(
    label for label in LABELS if label.has_instances and not label.ignore_in_eval)
