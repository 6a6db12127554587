"""Checks that turn silently wrong datasets into one line: unusable boxes (counted and said once),
category ids the file does not define, image paths that leave the image folder, and a
training set that filtering left empty."""

from __future__ import annotations

import logging
import math
import os.path as osp
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from detcli.data.bad_images import leaf_datasets
from detcli.errors import DataError

logger = logging.getLogger("detcli")

# Above this share of annotations with undefined category ids, the file is taken as broken.
UNKNOWN_CATEGORY_SHARE = 0.01

NAN = "NaN/inf coordinates"
NEGATIVE = "zero or negative width/height"
OUTSIDE = "fully outside the image"


def box_problem(x1: float, y1: float, x2: float, y2: float, width: float | None, height: float | None) -> str | None:
    """Why an ``x1, y1, x2, y2`` box cannot be trained on (None: it can)."""
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return NAN
    if x2 <= x1 or y2 <= y1:
        return NEGATIVE
    if width is not None and height is not None and (x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height):
        return OUTSIDE
    return None


def usable_box_mask(boxes: np.ndarray, width: float | None, height: float | None, counts: Counter) -> np.ndarray:
    """A keep-mask over ``(n, 4)`` boxes (the rules of ``box_problem``, vectorised); each unusable
    one is counted in ``counts`` by its problem."""
    x1, y1, x2, y2 = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T
    nan = ~np.isfinite(np.stack([x1, y1, x2, y2])).all(0)
    with np.errstate(invalid="ignore"):
        negative = ~nan & ((x2 <= x1) | (y2 <= y1))
        outside = np.zeros_like(nan)
        if width is not None and height is not None:
            outside = ~nan & ~negative & ((x2 <= 0) | (y2 <= 0) | (x1 >= width) | (y1 >= height))
    for problem, mask in ((NAN, nan), (NEGATIVE, negative), (OUTSIDE, outside)):
        if mask.any():
            counts[problem] += int(mask.sum())
    return ~(nan | negative | outside)


def report_unusable_boxes(counts: Counter, total: int, source: str, action: str = "ignored") -> None:
    """One warning line per dataset: how many boxes were unusable, and why."""
    bad = sum(counts.values())
    if not bad:
        return
    why = ", ".join(f"{n} {problem}" for problem, n in counts.most_common())
    logger.warning("%d of %d boxes in %s cannot be used and are %s: %s", bad, total, source, action, why)


def check_unknown_categories(unknown: int, total: int, source: str, allowed: bool, example: Any = None) -> None:
    """Fail when more than ``UNKNOWN_CATEGORY_SHARE`` of the annotations have undefined category ids
    (a broken file), unless ``allowed``; otherwise one warning with the count."""
    if not unknown:
        return
    share = unknown / max(total, 1)
    e_g = f" (e.g. category_id {example})" if example is not None else ""
    if share > UNKNOWN_CATEGORY_SHARE and not allowed:
        raise DataError(
            f"{unknown} of {total} annotations in {source} ({share:.0%}) have category ids that its "
            f"'categories' does not define{e_g}",
            hint="fix the file's categories, or set allow_unknown_categories=True in the dataset config "
                 "(e.g. --cfg-options data.train.allow_unknown_categories=True) to ignore them",
        )
    logger.warning("%d annotations in %s have category ids that 'categories' does not define%s; ignored",
                   unknown, source, e_g)


def escaping_path(name: Any, prefix: str | None) -> bool:
    """Whether image file ``name`` joined to ``prefix`` lands outside ``prefix`` (``..``, absolute)."""
    if not prefix or not isinstance(name, str):
        return False
    if osp.isabs(name):
        return True
    return osp.normpath(name).split(osp.sep, 1)[0] == ".."


def check_inside_prefix(names: Iterable[tuple[int, Any]], prefix: str | None, source: str, allowed: bool) -> None:
    """Refuse annotation file names that leave the image folder (a downloaded file naming
    ``../../etc/passwd``) unless the dataset config allows it."""
    if allowed or not prefix:
        return
    for index, name in names:
        for part in name if isinstance(name, list) else [name]:
            if escaping_path(part, prefix):
                raise DataError(
                    f"{source}: image {index} has file name {part!r}, which leads outside img_prefix {prefix}",
                    hint="fix the file names, or set allow_paths_outside_prefix=True in the dataset config "
                         "if the annotation file is yours",
                )


def check_training_set(dataset: Any, key: str = "data.train") -> None:
    """Fail before training when ``dataset`` has no images, saying what filtering removed."""
    if len(dataset) > 0:
        return
    parts = []
    for leaf in leaf_datasets(dataset):
        counts = getattr(leaf, "filter_counts", None)
        source = getattr(leaf, "ann_file", None) or type(leaf).__name__
        if not counts:
            parts.append(f"{source} has no images")
        elif counts["read"] == 0:
            parts.append(f"{source} lists no images")
        else:
            classes = list(getattr(leaf, "CLASSES", None) or [])
            shown = ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else "")
            parts.append(f"{counts['read']} images read from {source}, {counts['no_annotation']} without a usable "
                         f"annotation of the classes ({shown}), {counts['too_small']} smaller than "
                         f"{counts['min_size']} px")
    raise DataError(
        f"the training set is empty after filtering: {'; '.join(parts)}",
        hint=f"set {key}.filter_empty_gt=False to train on images without boxes, or check classes= "
             "against the annotation file's category names",
    )


__all__ = ["box_problem", "usable_box_mask", "report_unusable_boxes", "check_unknown_categories",
           "check_inside_prefix", "escaping_path", "check_training_set", "UNKNOWN_CATEGORY_SHARE"]
