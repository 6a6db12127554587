"""``CustomDataset``: the middle format and the base of every detection dataset.

Middle format (a ``.pkl``/``.json`` list, one entry per image)::

    [{'filename': 'a.jpg', 'width': 1280, 'height': 720,
      'ann': {'bboxes': (n, 4) float32, 'labels': (n,) int64,
              'bboxes_ignore': (k, 4) float32, 'labels_ignore': (k,) int64}}, ...]

Subclasses override ``load_annotations(ann_file)`` and ``get_ann_info(idx)``.
"""

from __future__ import annotations

import logging
import os.path as osp
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from detcli.data.bad_images import BadImageTally, image_path
from detcli.data.datasets.sanity import check_inside_prefix, report_unusable_boxes, usable_box_mask
from detcli.data.file_io import list_from_file, load
from detcli.data.image_io import UnreadableImageError
from detcli.data.pipelines.compose import Compose
from detcli.errors import DataError
from detcli.registry import DATASETS

logger = logging.getLogger("detcli")


def _join(root: str | None, path: str | None) -> str | None:
    if root is None or path is None or osp.isabs(path):
        return path
    return osp.join(root, path)


def drop_unusable_boxes(ann: Mapping[str, Any], width: float, height: float, counts: Counter) -> dict[str, Any]:
    """``ann`` without the boxes (and their labels) that are NaN, inverted or outside the image;
    each dropped one is counted in ``counts``."""
    out = dict(ann)
    for boxes_key, labels_key in (("bboxes", "labels"), ("bboxes_ignore", "labels_ignore")):
        if boxes_key not in out:
            continue
        boxes = np.asarray(out[boxes_key], dtype=np.float32).reshape(-1, 4)
        keep = usable_box_mask(boxes, width, height, counts)
        if keep.all():
            continue
        out[boxes_key] = boxes[keep]
        labels = out.get(labels_key)
        if labels is not None and len(labels) == len(keep):
            out[labels_key] = np.asarray(labels).reshape(-1)[keep]
    return out


def as_ann_arrays(ann: Mapping[str, Any], width: float | None = None, height: float | None = None) -> dict[str, Any]:
    """Annotation lists (from json) as the float32/int64 arrays the pipeline expects,
    boxes clipped to the image when its size is known."""
    out = dict(ann)
    for key in ("bboxes", "bboxes_ignore"):
        if key in out:
            boxes = np.asarray(out[key], dtype=np.float32).reshape(-1, 4)
            if width is not None and height is not None:
                boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
                boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
            out[key] = boxes
    for key in ("labels", "labels_ignore"):
        if key in out:
            out[key] = np.asarray(out[key], dtype=np.int64).reshape(-1)
    return out


@DATASETS.register_module()
class CustomDataset(Dataset):
    """A detection dataset: annotations in ``data_infos``, samples made by ``pipeline``.

    Args (mmdetection 2.x names): ``ann_file``, ``pipeline``, ``classes`` (tuple/list or a
    text file with one name per line; default ``CLASSES``), ``data_root`` (prefixed to
    the relative paths), ``img_prefix``, ``seg_prefix``, ``seg_suffix``, ``proposal_file``,
    ``test_mode`` (no filtering, no annotations needed), ``filter_empty_gt`` (drop images
    without boxes when training).
    ``skip_bad_images`` (old name ``skip_unreadable``): drop images whose file is missing
    (counted, one warning) and replace an image that cannot be decoded (training: by another
    sample; testing: by a blank image), counting it for the end-of-epoch report
    (``detcli.data.bad_images``); without it such an image stops the run with one line.
    ``allow_unknown_categories``: go on when many annotations have undefined category ids.
    ``allow_paths_outside_prefix``: accept image file names that leave ``img_prefix``.
    """

    CLASSES: Sequence[str] | None = None
    PALETTE: Sequence[tuple[int, int, int]] | None = None

    def __init__(self, ann_file: str, pipeline: Sequence[Any], classes: str | Sequence[str] | None = None,
                 data_root: str | None = None, img_prefix: str = "", seg_prefix: str | None = None,
                 seg_suffix: str = ".png", proposal_file: str | None = None, test_mode: bool = False,
                 filter_empty_gt: bool = True, file_client_args: dict | None = None,
                 skip_unreadable: bool = False, skip_bad_images: bool = False,
                 allow_unknown_categories: bool = False, allow_paths_outside_prefix: bool = False) -> None:
        self.data_root = data_root
        self.ann_file = _join(data_root, ann_file)
        self.img_prefix = _join(data_root, img_prefix)
        self.seg_prefix = _join(data_root, seg_prefix)
        self.seg_suffix = seg_suffix
        self.proposal_file = _join(data_root, proposal_file)
        self.test_mode = test_mode
        self.filter_empty_gt = filter_empty_gt
        self.file_client_args = dict(file_client_args or dict(backend="disk"))
        self.skip_bad_images = skip_bad_images or skip_unreadable
        self.allow_unknown_categories = allow_unknown_categories
        self.num_skipped = 0
        self.bad_images = BadImageTally() if self.skip_bad_images else None
        self.CLASSES = self.get_classes(classes)

        self.data_infos = self.load_annotations(self.ann_file)
        check_inside_prefix(((i, info.get("filename")) for i, info in enumerate(self.data_infos)),
                            self.img_prefix, self.ann_file, allow_paths_outside_prefix)
        self.proposals = self.load_proposals(self.proposal_file) if self.proposal_file is not None else None
        if self.proposals is not None and len(self.proposals) != len(self.data_infos):
            raise DataError(f"{self.proposal_file} has proposals for {len(self.proposals)} images, "
                            f"{self.ann_file} has {len(self.data_infos)}")
        if self.skip_bad_images:
            self._drop_missing_images()
        if not test_mode:
            self._filter_for_training()
            self._set_group_flag()
        self.pipeline = Compose(pipeline)

    # -- annotations ------------------------------------------------------------
    def load_annotations(self, ann_file: str) -> list[dict]:
        """Read a middle-format file (json lists become arrays; boxes clipped to the image)."""
        infos = load(ann_file)
        if not isinstance(infos, list) or any(not isinstance(i, Mapping) for i in infos):
            raise DataError(f"{ann_file} is not a middle-format annotation file: expected a list of dicts with "
                            "filename/width/height/ann", hint="see the dataset docs, or use CocoDataset for COCO json")
        out, problems, total = [], Counter(), 0
        for i, info in enumerate(infos):
            missing = [k for k in ("filename", "width", "height") if k not in info]
            if missing:
                raise DataError(f"{ann_file}: entry {i} has no {missing}")
            info = dict(info)
            if "ann" in info:
                total += sum(len(np.asarray(info["ann"].get(key, ())).reshape(-1, 4))
                             for key in ("bboxes", "bboxes_ignore"))  # drop_unusable_boxes checks both
                info["ann"] = drop_unusable_boxes(info["ann"], info["width"], info["height"], problems)
                info["ann"] = as_ann_arrays(info["ann"], info["width"], info["height"])
            out.append(info)
        report_unusable_boxes(problems, total, ann_file, action="dropped")
        return out

    def load_proposals(self, proposal_file: str) -> list:
        return load(proposal_file, what="proposal file")

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        return self.data_infos[idx]["ann"]

    def get_cat_ids(self, idx: int) -> list[int]:
        """Category ids present in image ``idx`` (for ClassBalancedDataset)."""
        return np.asarray(self.get_ann_info(idx)["labels"]).astype(np.int64).tolist()

    @classmethod
    def get_classes(cls, classes: str | Sequence[str] | None = None) -> Sequence[str] | None:
        """``CLASSES`` overridden by a tuple/list of names or a text file of them."""
        if classes is None:
            return cls.CLASSES
        if isinstance(classes, str):
            if not osp.isfile(classes):
                raise DataError(f"classes file not found: {classes}",
                                hint="give classes as a tuple of names or a path to a text file with one name a line")
            names = [n.strip() for n in list_from_file(classes, what="classes file")]
            return [n for n in names if n]
        if isinstance(classes, (tuple, list)):
            return classes
        raise DataError(f"classes must be a tuple/list of names or a file path, got {type(classes).__name__}")

    def get_cat2imgs(self) -> dict[int, list[int]]:
        if self.CLASSES is None:
            raise DataError("this dataset has no CLASSES")
        cat2imgs: dict[int, list[int]] = {i: [] for i in range(len(self.CLASSES))}
        for i in range(len(self)):
            for cat in set(self.get_cat_ids(i)):
                cat2imgs.setdefault(cat, []).append(i)
        return cat2imgs

    # -- filtering ----------------------------------------------------------------
    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        """Indices to keep when training: images at least ``min_size`` on both sides and,
        with ``filter_empty_gt``, with at least one box."""
        keep = []
        for i, info in enumerate(self.data_infos):
            if min(info["width"], info["height"]) < min_size:
                continue
            if self.filter_empty_gt and "ann" in info and len(info["ann"].get("bboxes", ())) == 0:
                continue
            keep.append(i)
        return keep

    def _filter_for_training(self, min_size: int = 32) -> None:
        """Apply ``_filter_imgs`` and keep its counts (an empty result is explained before training)."""
        read = len(self.data_infos)
        too_small = sum(min(info["width"], info["height"]) < min_size for info in self.data_infos)
        keep = self._filter_imgs()
        self.filter_counts = dict(read=read, kept=len(keep), too_small=too_small, min_size=min_size,
                                  no_annotation=max(read - len(keep) - too_small, 0))
        self._keep(keep)

    def _keep(self, indices: Sequence[int]) -> None:
        """Restrict to ``indices`` (subclasses keep their own per-image lists in step)."""
        self.data_infos = [self.data_infos[i] for i in indices]
        if self.proposals is not None:
            self.proposals = [self.proposals[i] for i in indices]

    def _drop_missing_images(self) -> None:
        keep, missing = [], []
        for i, info in enumerate(self.data_infos):
            names = info["filename"] if isinstance(info["filename"], list) else [info["filename"]]
            paths = [_join(self.img_prefix, n) if self.img_prefix else n for n in names]
            (keep if all(osp.isfile(p) for p in paths) else missing).append(i)
        if missing:
            example = self.data_infos[missing[0]]["filename"]
            logger.warning("%d of %d images listed in %s are missing and were skipped (e.g. %s)",
                           len(missing), len(self.data_infos), self.ann_file, example)
            self.num_skipped += len(missing)
            self._keep(keep)

    def _set_group_flag(self) -> None:
        """Aspect-ratio groups for batching: 1 where width > height, else 0."""
        w = np.array([info["width"] for info in self.data_infos], dtype=np.float64)
        h = np.array([info["height"] for info in self.data_infos], dtype=np.float64)
        self.flag = (w / np.maximum(h, 1e-6) > 1).astype(np.uint8)

    # -- samples ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data_infos)

    def pre_pipeline(self, results: dict[str, Any]) -> None:
        results["img_prefix"] = self.img_prefix
        results["seg_prefix"] = self.seg_prefix
        results["proposal_file"] = self.proposal_file
        results["bbox_fields"] = []
        results["mask_fields"] = []
        results["seg_fields"] = []

    def prepare_train_img(self, idx: int) -> dict[str, Any] | None:
        results = dict(img_info=self.data_infos[idx], ann_info=self.get_ann_info(idx))
        if self.proposals is not None:
            results["proposals"] = self.proposals[idx]
        self.pre_pipeline(results)
        return self.pipeline(results)

    def prepare_test_img(self, idx: int) -> dict[str, Any] | None:
        results = dict(img_info=self.data_infos[idx])
        if self.proposals is not None:
            results["proposals"] = self.proposals[idx]
        self.pre_pipeline(results)
        return self.pipeline(results)

    def _rand_another(self, idx: int) -> int:
        pool = np.flatnonzero(self.flag == self.flag[idx])
        return int(np.random.choice(pool))

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if self.test_mode:
            try:
                return self.prepare_test_img(idx)
            except UnreadableImageError as err:
                self._unreadable(idx, err)
                return self._blank_test_img(idx)
        for _ in range(1000):
            try:
                data = self.prepare_train_img(idx)
            except UnreadableImageError as err:
                self._unreadable(idx, err)
                data = None
            if data is not None:
                return data
            idx = self._rand_another(idx)
        raise DataError(f"{type(self).__name__}: the train pipeline dropped 1000 samples in a row",
                        hint="check crop/filter transforms and the annotations")

    def _unreadable(self, idx: int, err: UnreadableImageError) -> None:
        """Fail with the file and index (and the setting that skips), or count the image and go on."""
        if not self.skip_bad_images:
            key = "data.test" if self.test_mode else "data.train"
            raise UnreadableImageError(f"{err} (dataset index {idx}); set {key}.skip_bad_images=True to skip "
                                       "unreadable images", hint=err.hint) from None
        self.num_skipped += 1
        if self.bad_images is not None:
            self.bad_images.record(idx)

    def _blank_test_img(self, idx: int) -> dict[str, Any] | None:
        """Image ``idx`` run through the test pipeline as a black image of its annotated size
        (the results keep one entry per image; the end-of-run report names the file)."""
        from detcli.data.pipelines.loading import LoadImageFromFile

        transforms = self.pipeline.transforms
        first = next((i for i, t in enumerate(transforms) if isinstance(t, LoadImageFromFile)), None)
        if first is None:
            raise DataError(f"{type(self).__name__}: cannot replace unreadable image {idx}: the test pipeline "
                            "has no LoadImageFromFile", hint="set skip_bad_images=False")
        info = self.data_infos[idx]
        loader = transforms[first]
        shape = (int(info["height"]), int(info["width"]))
        img = np.zeros(shape if "grayscale" in loader.color_type else (*shape, 3),
                       np.float32 if loader.to_float32 else np.uint8)
        results = dict(img_info=info)
        if self.proposals is not None:
            results["proposals"] = self.proposals[idx]
        self.pre_pipeline(results)
        results.update(img=img, img_shape=img.shape, ori_shape=img.shape, img_fields=["img"],
                       filename=image_path(self, idx), ori_filename=info["filename"])
        for transform in transforms[first + 1:]:
            results = transform(results)
            if results is None:
                return None
        return results

    # -- evaluation (delegated) ------------------------------------------------------
    def evaluate(self, results: list, metric: str | Sequence[str] = "mAP", logger: Any = None,
                 proposal_nums: Sequence[int] = (100, 300, 1000), iou_thr: float | Sequence[float] = 0.5,
                 scale_ranges: Sequence[tuple] | None = None) -> dict[str, float]:
        """VOC-style mAP or proposal recall over ``get_ann_info`` of every image."""
        from detcli.evaluation import evaluate_custom

        return evaluate_custom(self, results, metric=metric, logger=logger, proposal_nums=proposal_nums,
                               iou_thr=iou_thr, scale_ranges=scale_ranges)

    def format_results(self, results: list, **kwargs: Any) -> Any:
        """Nothing to convert for the middle format."""
        return results, None

    def __repr__(self) -> str:
        kind = "Test" if self.test_mode else "Train"
        head = f"{type(self).__name__} {kind} dataset with {len(self)} images"
        if self.CLASSES is None:
            return head + " (no category names)"
        counts = np.zeros(len(self.CLASSES) + 1, dtype=np.int64)
        for i in range(len(self)):
            labels = np.asarray(self.get_ann_info(i)["labels"], dtype=np.int64)
            if len(labels):
                counts[: len(self.CLASSES)] += np.bincount(labels, minlength=len(self.CLASSES))[: len(self.CLASSES)]
            else:
                counts[-1] += 1
        rows = [f"  {i} [{name}]: {counts[i]}" for i, name in enumerate(self.CLASSES)]
        rows.append(f"  images without boxes: {counts[-1]}")
        return head + ", instance counts:\n" + "\n".join(rows)
