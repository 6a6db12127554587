"""Running the official Cityscapes instance-level evaluation (``cityscapesscripts``) safely.

The official code is used as it is, with three differences in how it is driven:

* numpy 2 removed ``np.in1d``, which the official matching still calls: while it runs, its
  module sees a numpy whose ``in1d`` is ``np.isin`` on the flattened input (the same result);
* the ground-truth instances are kept in memory: nothing is cached in a ``gtInstances.json``
  (a stale cache silently gave old results) and no ``matches.json`` lands in the working
  directory (writing them also failed on numpy integers);
* its ``printError`` exits the process; here that becomes a ``DataError`` with its message.

Ground truth is looked up per image of the dataset (``gtFine/<split>/<city>/<name>_gtFine_instanceIds.png``);
an image that has only its ``*_gtFine_polygons.json`` gets its instance image drawn first.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from detcli.errors import DataError, DetError


class MissingPackageError(DetError, ImportError):
    """An optional package a requested feature needs is not installed."""


class _NumpyForCityscapes:
    """numpy, plus the ``in1d`` that numpy 2.4 removed (cityscapesscripts 2.x still calls it)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def in1d(values: Any, test: Any, assume_unique: bool = False, invert: bool = False) -> np.ndarray:
        return np.isin(np.ravel(values), test, assume_unique=assume_unique, invert=invert)


def require_cityscapesscripts() -> Any:
    """The official evaluation module, or a one-line error saying what to install."""
    try:
        import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval
    except ImportError as err:
        raise MissingPackageError(
            "the cityscapes metric needs the 'cityscapesscripts' package, which is not installed",
            hint="pip install cityscapesscripts (or evaluate with --eval bbox segm for COCO metrics)",
        ) from err
    return cs_eval


@contextlib.contextmanager
def _official_code(cs_eval: Any) -> Iterator[None]:
    """numpy compatibility, its prints captured, its ``sys.exit`` turned into ``DataError``."""
    saved_np = cs_eval.np
    cs_eval.np = _NumpyForCityscapes()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            yield
    except SystemExit:
        lines = [line for line in out.getvalue().splitlines() if line.startswith("ERROR")]
        reason = lines[-1][len("ERROR:"):].strip() if lines else "it stopped without a message"
        raise DataError(f"Cityscapes evaluation failed: {reason}") from None
    finally:
        cs_eval.np = saved_np


def ground_truth_files(img_prefix: str, filenames: Sequence[str], work_dir: str) -> list[str]:
    """The instance-id image of each dataset image; drawn into ``work_dir`` from polygons where missing."""
    from detcli.data.cityscapes_polygons import draw_instance_ids, load_polygons
    from detcli.visualization.image_io import write_image

    gt_dir = img_prefix.replace("leftImg8bit", "gtFine")
    files = []
    for filename in filenames:
        if not filename.endswith("leftImg8bit.png"):
            raise DataError(f"{filename}: not a Cityscapes image name (*_leftImg8bit.png)",
                            hint="the cityscapes metric needs the leftImg8bit/gtFine layout")
        stem = os.path.join(gt_dir, filename[: -len("leftImg8bit.png")] + "gtFine_")
        png, polygons = stem + "instanceIds.png", stem + "polygons.json"
        if not os.path.isfile(png):
            if not os.path.isfile(polygons):
                raise DataError(f"no Cityscapes ground truth for {filename}: neither {png} nor {polygons}",
                                hint="img_prefix must point into leftImg8bit/<split> of a Cityscapes tree")
            png = os.path.join(work_dir, os.path.basename(png))
            write_image(draw_instance_ids(load_polygons(polygons)).astype(np.uint16), png)
        files.append(png)
    return files


def evaluate_instances(gt_files: Sequence[str], pred_files: Sequence[str], pred_dir: str) -> dict[str, Any]:
    """Official instance-level AP: ``{'allAp', 'allAp50%', 'classes': {name: {'ap', 'ap50%'}}}``."""
    cs_eval = require_cityscapesscripts()
    args = cs_eval.args
    args.predictionPath = os.path.abspath(pred_dir)
    args.predictionWalk = None
    args.JSONOutput = False
    args.colorized = False
    args.quiet = True
    with _official_code(cs_eval):
        cs_eval.setInstanceLabels(args)
        gt_instances = cs_eval.instances2dict(list(gt_files), False)
        matches = cs_eval.matchGtWithPreds(list(pred_files), list(gt_files), gt_instances, args)
        averages = cs_eval.computeAverages(cs_eval.evaluateMatches(matches, args), args)
    return averages
