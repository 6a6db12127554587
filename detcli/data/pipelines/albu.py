"""``Albu``: run an albumentations pipeline inside a detcli pipeline (mmdetection 2.x config keys).

``transforms`` is a list of dicts, each built into an albumentations object by its ``type``
(``OneOf``/``SomeOf`` nest their own ``transforms``); ``bbox_params`` becomes
``albumentations.BboxParams``. ``keymap`` renames our keys to albumentations' (default:
``img -> image``, ``gt_bboxes -> bboxes``, ``gt_masks -> masks``). With
``filter_lost_elements=True`` in ``bbox_params``, the labels and masks of boxes that the
augmentation dropped are dropped too; ``skip_img_without_anno`` then discards a sample left
with no box (the dataset draws another). ``update_pad_shape`` sets ``pad_shape`` to the new
image shape. Needs the optional package albumentations.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detcli.errors import ConfigError, DataError
from detcli.registry import PIPELINES
from detcli.structures.masks import BitmapMasks, PolygonMasks

DEFAULT_KEYMAP = {"img": "image", "gt_masks": "masks", "gt_bboxes": "bboxes"}
_INDEX_FIELD = "idx_mapper"  # rides along with the boxes to tell which ones survived


def _albumentations() -> Any:
    # albumentations asks PyPI for a newer release on import unless told not to: a training run
    # should make no network calls of its own
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    try:
        import albumentations
    except ImportError:
        raise ConfigError(
            "the Albu transform needs the optional package 'albumentations', which is not installed",
            hint="pip install albumentations (or: pip install 'detcli[optional]')",
        ) from None
    return albumentations


def _renamed_legacy(name: str, args: dict, albumentations: Any) -> tuple[str, dict]:
    """Transforms that mmdetection 2.x configs name but newer albumentations renamed."""
    if name == "JpegCompression" and not hasattr(albumentations, name):
        # 2.x's albu_example config; albumentations 2 only has ImageCompression(quality_range=...)
        low, high = args.pop("quality_lower", 99), args.pop("quality_upper", 100)
        args.setdefault("quality_range", (low, high))
        args.setdefault("compression_type", "jpeg")
        return "ImageCompression", args
    return name, args


def build_albu_transform(cfg: Mapping, albumentations: Any | None = None) -> Any:
    """One albumentations object from ``dict(type=..., **args)`` (nested ``transforms`` too)."""
    albumentations = albumentations or _albumentations()
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ConfigError(f"an Albu transform must be a dict with a 'type', got {cfg!r:.80}")
    args = dict(cfg)
    kind = args.pop("type")
    if isinstance(kind, str):
        kind, args = _renamed_legacy(kind, args, albumentations)
        cls = getattr(albumentations, kind, None)
        if not inspect.isclass(cls):
            names = [n for n in dir(albumentations) if inspect.isclass(getattr(albumentations, n))]
            close = difflib.get_close_matches(kind, names, n=3)
            raise ConfigError(
                f"albumentations {albumentations.__version__} has no transform {kind!r}",
                hint=f"did you mean {' or '.join(repr(c) for c in close)}?" if close else
                "see the albumentations docs for the transform names",
            )
    elif inspect.isclass(kind):
        cls = kind
    else:
        raise ConfigError(f"an Albu transform type must be a name or a class, got {type(kind).__name__}")
    if "transforms" in args:
        args["transforms"] = [build_albu_transform(t, albumentations) for t in args["transforms"]]
    return cls(**args)


@PIPELINES.register_module()
class Albu:
    """Augment ``img`` (and boxes, labels, masks) with albumentations."""

    def __init__(self, transforms: Sequence[Mapping], bbox_params: Mapping | None = None,
                 keymap: Mapping[str, str] | None = None, update_pad_shape: bool = False,
                 skip_img_without_anno: bool = False) -> None:
        albumentations = _albumentations()
        self.transforms = copy.deepcopy(list(transforms))
        self.update_pad_shape = update_pad_shape
        self.skip_img_without_anno = skip_img_without_anno
        bbox_params = copy.deepcopy(dict(bbox_params)) if bbox_params else None
        self.filter_lost_elements = False
        self.origin_label_fields: list[str] = []
        if bbox_params is not None and bbox_params.pop("filter_lost_elements", False):
            # albumentations drops lost boxes with their label fields: track an index instead
            # and use it for the labels and the masks as well
            self.filter_lost_elements = True
            self.origin_label_fields = list(bbox_params.get("label_fields", []))
            bbox_params["label_fields"] = [_INDEX_FIELD]
        self.bbox_params = build_albu_transform(bbox_params, albumentations) if bbox_params else None
        self.aug = albumentations.Compose([build_albu_transform(t, albumentations) for t in self.transforms],
                                          bbox_params=self.bbox_params)
        self.keymap_to_albu = dict(keymap) if keymap else dict(DEFAULT_KEYMAP)
        self.keymap_back = {v: k for k, v in self.keymap_to_albu.items()}

    @staticmethod
    def mapper(d: Mapping[str, Any], keymap: Mapping[str, str]) -> dict[str, Any]:
        """``d`` with its keys renamed by ``keymap`` (others kept)."""
        return {keymap.get(k, k): v for k, v in d.items()}

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        results = self.mapper(results, self.keymap_to_albu)
        if "bboxes" in results:
            results["bboxes"] = np.asarray(results["bboxes"], dtype=np.float32).reshape(-1, 4)
            if self.filter_lost_elements:
                results[_INDEX_FIELD] = np.arange(len(results["bboxes"]))
        if "masks" in results:
            if isinstance(results["masks"], PolygonMasks):
                raise DataError("Albu works on bitmap masks, but the masks are polygons",
                                hint="set poly2mask=True in LoadAnnotations when the pipeline has Albu")
            results["masks"] = list(results["masks"].masks)

        results = self.aug(**results)

        if "bboxes" in results:
            results["bboxes"] = np.asarray(results["bboxes"], dtype=np.float32).reshape(-1, 4)
            if self.filter_lost_elements:
                kept = np.asarray(results.pop(_INDEX_FIELD), dtype=np.int64)
                for field in self.origin_label_fields:
                    results[field] = np.asarray(results[field])[kept]
                if "masks" in results:
                    results["masks"] = [results["masks"][i] for i in kept]
                if not len(kept) and self.skip_img_without_anno:
                    return None
        if "masks" in results:
            height, width = results["image"].shape[:2]
            results["masks"] = BitmapMasks(results["masks"], height, width)
        if "gt_labels" in results:
            results["gt_labels"] = np.asarray(results["gt_labels"]).astype(np.int64)

        results = self.mapper(results, self.keymap_back)
        if self.update_pad_shape:
            results["pad_shape"] = results["img"].shape
        return results

    def __repr__(self) -> str:
        return f"Albu(transforms={self.transforms})"
