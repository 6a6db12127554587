"""COCO-format datasets: ``CocoDataset`` and ``CityscapesDataset`` (its COCO conversion)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from detcli.data.datasets.coco_api import COCO, check_coco_dict
from detcli.data.datasets.custom import CustomDataset
from detcli.data.datasets.sanity import OUTSIDE, box_problem, check_unknown_categories, report_unusable_boxes
from detcli.data.file_io import load
from detcli.errors import DataError
from detcli.evaluation.class_names import CITYSCAPES_CLASSES, COCO_CLASSES
from detcli.registry import DATASETS

logger = logging.getLogger("detcli")


@DATASETS.register_module()
class CocoDataset(CustomDataset):
    """COCO instances json via pycocotools.

    Category ids map to labels ``0..K-1`` in category-id order, for the categories named in
    ``CLASSES``/``classes``; annotations of other categories are ignored (and counted).
    ``iscrowd`` boxes become ``bboxes_ignore``; boxes with w or h < 1, non-positive area or
    no overlap with the image are dropped; the rest are clipped to the image.
    """

    CLASSES = COCO_CLASSES
    PALETTE = None

    def load_annotations(self, ann_file: str) -> list[dict]:
        """Images of ``ann_file``; in test mode it may be an image-info file without annotations."""
        data = load(ann_file)
        check_coco_dict(data, ann_file, need_annotations=not self.test_mode)
        self.has_annotations = "annotations" in data
        if not self.has_annotations:
            data = {**data, "annotations": []}
        ann_ids = [a["id"] for a in data["annotations"]]
        if len(set(ann_ids)) != len(ann_ids):
            dup = next(i for i, n in Counter(ann_ids).items() if n > 1)
            raise DataError(f"annotation ids in {ann_file} are not unique (e.g. id {dup})")
        self.coco = COCO(data)
        self._check_categories(ann_file)
        self.cat_ids = self.coco.get_cat_ids(cat_names=self.CLASSES)
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.img_ids = self.coco.get_img_ids()
        self._report_ignored_annotations(ann_file)
        infos = []
        for img_id in self.img_ids:
            info = dict(self.coco.load_imgs([img_id])[0])
            info["filename"] = info["file_name"]
            infos.append(info)
        return infos

    def _check_categories(self, ann_file: str) -> None:
        names = [c["name"] for c in self.coco.dataset["categories"]]
        absent = [c for c in self.CLASSES if c not in names]
        if absent and len(absent) == len(self.CLASSES):
            raise DataError(f"none of the dataset's {len(self.CLASSES)} classes is a category of {ann_file} "
                            f"(its categories: {names[:10]}{'...' if len(names) > 10 else ''})",
                            hint="set classes=(...) in the dataset config to the category names you train on")
        if absent:
            logger.warning("%d classes are not categories of %s and will have no annotations: %s",
                           len(absent), ann_file, absent[:10])

    def _report_ignored_annotations(self, ann_file: str) -> None:
        known = {c["id"] for c in self.coco.dataset["categories"]}
        wanted = set(self.cat_ids)
        cats = [a["category_id"] for a in self.coco.dataset["annotations"]]
        undefined = [c for c in cats if c not in known]
        other = sum(c in known and c not in wanted for c in cats)
        check_unknown_categories(len(undefined), len(cats), ann_file, self.allow_unknown_categories,
                                 undefined[0] if undefined else None)
        self._report_unusable_boxes(ann_file, wanted)
        undefined = len(undefined)
        if other:
            logger.info("%d annotations in %s belong to categories outside classes; ignored", other, ann_file)
        self.num_ignored_annotations = undefined + other

    def _report_unusable_boxes(self, ann_file: str, wanted: set) -> None:
        """Count (once, at build time) the boxes of wanted categories that ``_parse_ann_info`` drops."""
        problems: Counter = Counter()
        total = 0
        for ann in self.coco.dataset["annotations"]:
            if ann["category_id"] not in wanted or ann.get("ignore", False):
                continue
            total += 1
            problem = self._box_problem(ann, self.coco.imgs.get(ann["image_id"]) or {})
            if problem is not None:
                problems[problem] += 1
        report_unusable_boxes(problems, total, ann_file)

    def _box_problem(self, ann: dict, img_info: dict) -> str | None:
        try:
            x1, y1, w, h = (float(v) for v in ann["bbox"])
        except (TypeError, ValueError):
            return "malformed bbox"
        problem = box_problem(x1, y1, x1 + w, y1 + h, None, None)
        if problem is None and (w < 1 or h < 1 or ann.get("area", w * h) <= 0):
            problem = "width/height under 1 px or zero area"
        if problem is None and "width" in img_info and not self._box_usable(ann, img_info):
            problem = OUTSIDE
        return problem

    def _keep(self, indices: Sequence[int]) -> None:
        super()._keep(indices)
        self.img_ids = [self.img_ids[i] for i in indices]

    def _anns_of(self, idx: int) -> list[dict]:
        return self.coco.load_anns(self.coco.get_ann_ids(img_ids=[self.data_infos[idx]["id"]]))

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        return self._parse_ann_info(self.data_infos[idx], self._anns_of(idx))

    def get_cat_ids(self, idx: int) -> list[int]:
        return [a["category_id"] for a in self._anns_of(idx)]

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        """Images at least ``min_size`` a side; with ``filter_empty_gt``, only those with an
        annotation of a wanted category."""
        with_ann = {a["image_id"] for a in self.coco.anns.values()}
        in_cat = set()
        for cat_id in self.cat_ids:
            in_cat |= set(self.coco.catToImgs[cat_id])
        in_cat &= with_ann
        return [i for i, info in enumerate(self.data_infos)
                if not (self.filter_empty_gt and self.img_ids[i] not in in_cat)
                and min(info["width"], info["height"]) >= min_size]

    def _box_usable(self, ann: dict, img_info: dict) -> bool:
        x1, y1, w, h = ann["bbox"]
        inter_w = max(0, min(x1 + w, img_info["width"]) - max(x1, 0))
        inter_h = max(0, min(y1 + h, img_info["height"]) - max(y1, 0))
        return inter_w * inter_h > 0

    def _parse_ann_info(self, img_info: dict, ann_info: list[dict]) -> dict[str, Any]:
        bboxes, labels, ignore, masks = [], [], [], []
        for ann in ann_info:
            if (ann.get("ignore", False) or ann["category_id"] not in self.cat2label
                    or self._box_problem(ann, img_info) is not None):
                continue
            x1, y1, w, h = ann["bbox"]
            box = [x1, y1, x1 + w, y1 + h]
            if ann.get("iscrowd", False):
                ignore.append(box)
            else:
                bboxes.append(box)
                labels.append(self.cat2label[ann["category_id"]])
                masks.append(ann.get("segmentation"))
        gt = np.array(bboxes, dtype=np.float32).reshape(-1, 4)
        gt_ignore = np.array(ignore, dtype=np.float32).reshape(-1, 4)
        for boxes in (gt, gt_ignore):
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, img_info["width"])
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, img_info["height"])
        return dict(
            bboxes=gt,
            labels=np.array(labels, dtype=np.int64),
            bboxes_ignore=gt_ignore,
            masks=masks,
            seg_map=img_info["filename"].rsplit(".", 1)[0] + self.seg_suffix,
        )

    # -- evaluation (delegated) ------------------------------------------------------
    def format_results(self, results: list, jsonfile_prefix: str | None = None, **kwargs: Any) -> Any:
        """Write COCO result json files; returns ``(result_files, tmp_dir)``."""
        from detcli.evaluation import format_coco_results

        return format_coco_results(self, results, jsonfile_prefix=jsonfile_prefix, **kwargs)

    def evaluate(self, results: list, metric: str | Sequence[str] = "bbox", logger: Any = None,
                 jsonfile_prefix: str | None = None, classwise: bool = False,
                 proposal_nums: Sequence[int] = (100, 300, 1000), iou_thrs: Sequence[float] | None = None,
                 metric_items: str | Sequence[str] | None = None) -> dict[str, Any]:
        """COCO metrics (``bbox``, ``segm``, ``proposal``, ``proposal_fast``) with pycocotools."""
        from detcli.evaluation import evaluate_coco
        from detcli.evaluation.errors import MetricError

        if not getattr(self, "has_annotations", True):
            raise MetricError(f"{self.ann_file} has no annotations (an image-info file such as COCO test-dev): "
                              "there is nothing to evaluate against",
                              hint="use --format-only to write the result json for the evaluation server")

        return evaluate_coco(self, results, metric=metric, logger=logger, jsonfile_prefix=jsonfile_prefix,
                             classwise=classwise, proposal_nums=proposal_nums, iou_thrs=iou_thrs,
                             metric_items=metric_items)


@DATASETS.register_module()
class CityscapesDataset(CocoDataset):
    """Cityscapes instances converted to COCO json (``det convert cityscapes``).

    Unlike COCO, images whose annotations are all crowd are filtered when training, and
    boxes are kept without the image-overlap check.
    """

    CLASSES = CITYSCAPES_CLASSES

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        keep = set(super()._filter_imgs(min_size))
        if not self.filter_empty_gt:
            return sorted(keep)
        out = []
        for i in sorted(keep):
            anns = self._anns_of(i)
            if anns and not all(a.get("iscrowd", 0) for a in anns):
                out.append(i)
        return out

    def _box_usable(self, ann: dict, img_info: dict) -> bool:
        return True

    def format_results(self, results: list, txtfile_prefix: str | None = None, **kwargs: Any) -> Any:
        """Cityscapes submission files (``<prefix>/*_pred.txt`` + instance pngs); ``(files, tmp_dir)``."""
        from detcli.evaluation.cityscapes import format_cityscapes_results

        return format_cityscapes_results(self, results, txtfile_prefix)

    def evaluate(self, results: list, metric: str | Sequence[str] = "bbox", logger: Any = None,
                 outfile_prefix: str | None = None, classwise: bool = False,
                 proposal_nums: Sequence[int] = (100, 300, 1000), iou_thrs: Sequence[float] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
        """COCO metrics and ``'cityscapes'`` (needs cityscapesscripts)."""
        from detcli.evaluation.cityscapes import evaluate_cityscapes

        return evaluate_cityscapes(self, results, metric=metric, logger=logger, outfile_prefix=outfile_prefix,
                                   classwise=classwise, proposal_nums=proposal_nums, iou_thrs=iou_thrs)
