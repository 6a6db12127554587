"""Transforms that load data: images, annotations, proposals."""

from __future__ import annotations

import os.path as osp
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

from detcli.data.image_io import imread
from detcli.registry import PIPELINES
from detcli.structures.masks import BitmapMasks, PolygonMasks


def _image_path(results: dict[str, Any], name: str) -> str:
    prefix = results.get("img_prefix")
    return osp.join(prefix, name) if prefix else name


def _set_image(results: dict[str, Any], img: np.ndarray, to_float32: bool) -> dict[str, Any]:
    if to_float32:
        img = img.astype(np.float32)
    results["img"] = img
    results["img_shape"] = img.shape
    results["ori_shape"] = img.shape
    results["img_fields"] = ["img"]
    return results


@PIPELINES.register_module()
class LoadImageFromFile:
    """Read ``img_prefix/img_info['filename']`` (BGR uint8 by default).

    Adds ``img``, ``img_shape``, ``ori_shape``, ``filename``, ``ori_filename``, ``img_fields``.
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color", channel_order: str = "bgr",
                 file_client_args: dict | None = None) -> None:
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order
        self.file_client_args = dict(file_client_args or dict(backend="disk"))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        name = results["img_info"]["filename"]
        filename = _image_path(results, name)
        img = imread(filename, self.color_type, self.channel_order)
        results["filename"] = filename
        results["ori_filename"] = name
        return _set_image(results, img, self.to_float32)

    def __repr__(self) -> str:
        return (f"LoadImageFromFile(to_float32={self.to_float32}, color_type='{self.color_type}', "
                f"channel_order='{self.channel_order}')")


@PIPELINES.register_module()
class LoadImageFromWebcam(LoadImageFromFile):
    """Take an already decoded ``results['img']`` (camera frames, arrays passed to inference)."""

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        results["filename"] = None
        results["ori_filename"] = None
        return _set_image(results, results["img"], self.to_float32)


@PIPELINES.register_module()
class LoadMultiChannelImageFromFiles:
    """Stack several single-channel files (``img_info['filename']`` is a list) into one image."""

    def __init__(self, to_float32: bool = False, color_type: str = "unchanged",
                 file_client_args: dict | None = None) -> None:
        self.to_float32 = to_float32
        self.color_type = color_type
        self.file_client_args = dict(file_client_args or dict(backend="disk"))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        names = results["img_info"]["filename"]
        filenames = [_image_path(results, n) for n in names]
        img = np.stack([imread(f, self.color_type) for f in filenames], axis=-1)
        results["filename"] = filenames
        results["ori_filename"] = names
        _set_image(results, img, self.to_float32)
        channels = 1 if img.ndim < 3 else img.shape[2]
        results["pad_shape"] = img.shape
        results["scale_factor"] = 1.0
        results["img_norm_cfg"] = dict(mean=np.zeros(channels, np.float32), std=np.ones(channels, np.float32),
                                       to_rgb=False)
        return results


def _rasterise(mask_ann: Any, height: int, width: int) -> np.ndarray:
    """One instance's COCO segmentation (polygons, RLE or uncompressed RLE) to an HxW uint8 mask."""
    if isinstance(mask_ann, list):
        polys = [p for p in mask_ann if len(p) >= 6]
        if not polys:
            return np.zeros((height, width), np.uint8)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(mask_ann, dict) and isinstance(mask_ann.get("counts"), list):
        rle = mask_utils.frPyObjects(mask_ann, height, width)
    elif isinstance(mask_ann, dict):
        rle = mask_ann
    else:
        return np.zeros((height, width), np.uint8)
    return mask_utils.decode(rle)


@PIPELINES.register_module()
class LoadAnnotations:
    """Copy boxes/labels from ``ann_info``, build masks, read the semantic map.

    ``poly2mask=True`` rasterises polygons to ``BitmapMasks``; ``False`` keeps
    ``PolygonMasks`` (exact and cheaper to transform).
    """

    def __init__(self, with_bbox: bool = True, with_label: bool = True, with_mask: bool = False,
                 with_seg: bool = False, poly2mask: bool = True, denorm_bbox: bool = False,
                 file_client_args: dict | None = None) -> None:
        self.with_bbox = with_bbox
        self.with_label = with_label
        self.with_mask = with_mask
        self.with_seg = with_seg
        self.poly2mask = poly2mask
        self.denorm_bbox = denorm_bbox
        self.file_client_args = dict(file_client_args or dict(backend="disk"))

    def _load_bboxes(self, results: dict[str, Any]) -> None:
        ann = results["ann_info"]
        bboxes = np.array(ann["bboxes"], dtype=np.float32).reshape(-1, 4)
        if self.denorm_bbox and len(bboxes):
            h, w = results["img_shape"][:2]
            bboxes[:, 0::2] *= w
            bboxes[:, 1::2] *= h
        results["gt_bboxes"] = bboxes
        ignore = ann.get("bboxes_ignore")
        fields = results.setdefault("bbox_fields", [])
        if ignore is not None:
            results["gt_bboxes_ignore"] = np.array(ignore, dtype=np.float32).reshape(-1, 4)
            fields.append("gt_bboxes_ignore")
        fields.append("gt_bboxes")
        if ann.get("gt_is_group_ofs") is not None:
            results["gt_is_group_ofs"] = ann["gt_is_group_ofs"].copy()

    def _load_masks(self, results: dict[str, Any]) -> None:
        h, w = results["img_info"]["height"], results["img_info"]["width"]
        anns = results["ann_info"]["masks"]
        if self.poly2mask:
            masks = BitmapMasks([_rasterise(m, h, w) for m in anns], h, w)
        else:
            masks = PolygonMasks([self.process_polygons(p) for p in anns], h, w)
        results["gt_masks"] = masks
        results.setdefault("mask_fields", []).append("gt_masks")

    @staticmethod
    def process_polygons(polygons: list) -> list[np.ndarray]:
        """Keep the valid polygons (even length, at least 3 points) of one instance."""
        arrays = [np.array(p, dtype=np.float64) for p in polygons]
        return [p for p in arrays if len(p) % 2 == 0 and len(p) >= 6]

    def _load_semantic_seg(self, results: dict[str, Any]) -> None:
        prefix = results.get("seg_prefix") or ""
        filename = osp.join(prefix, results["ann_info"]["seg_map"])
        results["gt_semantic_seg"] = imread(filename, "unchanged").squeeze()
        results.setdefault("seg_fields", []).append("gt_semantic_seg")

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if self.with_bbox:
            self._load_bboxes(results)
        if self.with_label:
            results["gt_labels"] = np.array(results["ann_info"]["labels"], dtype=np.int64).reshape(-1)
        if self.with_mask:
            self._load_masks(results)
        if self.with_seg:
            self._load_semantic_seg(results)
        return results

    def __repr__(self) -> str:
        return (f"LoadAnnotations(with_bbox={self.with_bbox}, with_label={self.with_label}, "
                f"with_mask={self.with_mask}, with_seg={self.with_seg}, poly2mask={self.poly2mask})")


@PIPELINES.register_module()
class LoadProposals:
    """Take precomputed proposals (``(n, 4)`` or ``(n, 5)``), keep at most ``num_max_proposals``."""

    def __init__(self, num_max_proposals: int | None = None) -> None:
        self.num_max_proposals = num_max_proposals

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        proposals = np.asarray(results["proposals"], dtype=np.float32)
        if proposals.ndim != 2 or proposals.shape[1] not in (4, 5):
            raise ValueError(f"proposals must have shape (n, 4) or (n, 5), got {proposals.shape}")
        proposals = proposals[:, :4]
        if self.num_max_proposals is not None:
            proposals = proposals[:self.num_max_proposals]
        if len(proposals) == 0:
            proposals = np.zeros((1, 4), dtype=np.float32)
        results["proposals"] = proposals
        results.setdefault("bbox_fields", []).append("proposals")
        return results

    def __repr__(self) -> str:
        return f"LoadProposals(num_max_proposals={self.num_max_proposals})"


@PIPELINES.register_module()
class FilterAnnotations:
    """Drop instances whose box is not larger than ``min_gt_bbox_wh`` or whose mask is too small.

    ``keep_empty=True`` (the default) returns ``None`` -- the sample is skipped -- when no
    instance is left; the name is kept from mmdetection 2.x configs, where it means exactly that.
    """

    def __init__(self, min_gt_bbox_wh: tuple[float, float] = (1.0, 1.0), min_gt_mask_area: int = 1,
                 by_box: bool = True, by_mask: bool = False, keep_empty: bool = True) -> None:
        if not (by_box or by_mask):
            raise ValueError("FilterAnnotations needs by_box or by_mask")
        self.min_gt_bbox_wh = min_gt_bbox_wh
        self.min_gt_mask_area = min_gt_mask_area
        self.by_box = by_box
        self.by_mask = by_mask
        self.keep_empty = keep_empty

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        n = len(results["gt_bboxes"]) if self.by_box else len(results["gt_masks"])
        if n == 0:
            return results
        keep = np.ones(n, dtype=bool)
        if self.by_box:
            boxes = results["gt_bboxes"]
            keep &= (boxes[:, 2] - boxes[:, 0] > self.min_gt_bbox_wh[0]) & (boxes[:, 3] - boxes[:, 1] > self.min_gt_bbox_wh[1])
        if self.by_mask:
            keep &= results["gt_masks"].areas >= self.min_gt_mask_area
        idx = np.flatnonzero(keep)
        for key in ("gt_bboxes", "gt_labels", "gt_masks"):
            if key in results:
                results[key] = results[key][idx]
        if idx.size == 0 and self.keep_empty:
            return None
        return results
