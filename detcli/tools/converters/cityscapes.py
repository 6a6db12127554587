"""``det convert cityscapes ROOT``: Cityscapes gtFine instances to COCO json.

Writes ``instancesonly_filtered_gtFine_{train,val,test}.json`` as mmdetection 2.x's
``tools/dataset_converters/cityscapes.py`` does: one image entry per
``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` (``file_name`` ``<city>/<name>``,
``segm_file`` the matching ``*_gtFine_labelIds.png``), one annotation per instance of the
8 evaluated classes with an RLE mask, its box and area; category ids are the Cityscapes
label ids (person 24 ... bicycle 33); crowd regions (``cargroup``...) get ``iscrowd=1``.
Two differences: images are listed in name order (mmdetection keeps the file system's order, so
its ids change from machine to machine), and annotation ids start at 1, not 0 (COCOeval never
matches an annotation with id 0).
Instances are read from ``*_gtFine_instanceIds.png``; where that file is missing, it is
drawn from ``*_gtFine_polygons.json`` the way the official tools draw it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from detcli.data.cityscapes_labels import ID_TO_LABEL, INSTANCE_LABELS
from detcli.data.file_io import dump
from detcli.errors import DataError

SPLIT_FILES = {
    "train": "instancesonly_filtered_gtFine_train.json",
    "val": "instancesonly_filtered_gtFine_val.json",
    "test": "instancesonly_filtered_gtFine_test.json",
}
IMG_SUFFIX = "leftImg8bit.png"
_STUFF_BELOW = 24  # label ids under 24 never have instances


def _silent(split: str, total: int) -> Any:
    from detcli.apis.progress import progress_bar

    return progress_bar(total, enabled=False)


def collect_files(img_dir: Path, gt_dir: Path) -> list[tuple[str, str, str]]:
    """``(image, instanceIds png, labelIds png)`` for every ``<img_dir>/<city>/*.png``, sorted."""
    files = []
    for img in sorted(img_dir.glob("*/*.png")):
        if not img.name.endswith(IMG_SUFFIX):
            raise DataError(f"{img}: not a Cityscapes image name (*_{IMG_SUFFIX})",
                            hint="the image folder must hold only <city>/<city>_<seq>_<frame>_leftImg8bit.png")
        stem = gt_dir / img.parent.name / img.name[: -len(IMG_SUFFIX)]
        files.append((str(img), f"{stem}gtFine_instanceIds.png", f"{stem}gtFine_labelIds.png"))
    return files


def read_instance_ids(inst_file: str) -> np.ndarray:
    """The instance-id image; drawn from the sibling ``*_gtFine_polygons.json`` when the png is missing."""
    import cv2

    if os.path.isfile(inst_file):
        img = cv2.imread(inst_file, cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 2:
            raise DataError(f"{inst_file}: not a single-channel instance-id image",
                            hint="instanceIds pngs hold one 16-bit id per pixel (label_id * 1000 + k)")
        return img
    poly_file = inst_file[: -len("instanceIds.png")] + "polygons.json"
    if not os.path.isfile(poly_file):
        raise DataError(f"no instance annotation for an image: neither {inst_file} nor {poly_file} exists",
                        hint="each leftImg8bit image needs its gtFine *_instanceIds.png or *_polygons.json")
    from detcli.data.cityscapes_polygons import draw_instance_ids, load_polygons

    return draw_instance_ids(load_polygons(poly_file))


def load_img_info(files: tuple[str, str, str]) -> dict[str, Any]:
    """One image entry with its annotations (``anno_info``), from its instance-id image."""
    import pycocotools.mask as mask_utils

    img_file, inst_file, segm_file = files
    inst_img = read_instance_ids(inst_file)
    anno_info = []
    for inst_id in np.unique(inst_img[inst_img >= _STUFF_BELOW]).tolist():
        label_id = inst_id // 1000 if inst_id >= 1000 else inst_id
        label = ID_TO_LABEL.get(label_id)
        if label is None:
            raise DataError(f"{inst_file}: pixel value {inst_id} is no Cityscapes id (label id {label_id})",
                            hint="values are label ids (stuff, crowds) or label_id * 1000 + k (instances)")
        if not label.has_instances or label.ignore_in_eval:
            continue
        mask = np.asarray(inst_img == inst_id, dtype=np.uint8, order="F")
        rle = mask_utils.encode(mask[:, :, None])[0]
        area = mask_utils.area(rle)
        bbox = mask_utils.toBbox(rle)
        rle["counts"] = rle["counts"].decode()
        anno_info.append(dict(iscrowd=int(inst_id < 1000), category_id=label.id, bbox=bbox.tolist(),
                              area=area.tolist(), segmentation=rle))
    city = os.path.basename(os.path.dirname(img_file))
    return dict(file_name=os.path.join(city, os.path.basename(img_file)), height=int(inst_img.shape[0]),
                width=int(inst_img.shape[1]), anno_info=anno_info,
                segm_file=os.path.join(city, os.path.basename(segm_file)))


def _map(files: list, nproc: int) -> Iterator[dict[str, Any]]:
    if nproc <= 1 or len(files) < 2:
        yield from map(load_img_info, files)
        return
    with ProcessPoolExecutor(nproc) as pool:
        yield from pool.map(load_img_info, files, chunksize=max(1, min(16, len(files) // (4 * nproc))))


def to_coco(image_infos: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The COCO dict: images numbered from 0, annotations from 1, the 8 instance categories.

    (mmdetection numbers annotations from 0, but COCOeval records a match by the ground truth's id
    and reads id 0 as "unmatched": the first annotation of a file could never count as found.)
    """
    out: dict[str, Any] = dict(images=[], categories=[], annotations=[])
    for img_id, info in enumerate(image_infos):
        info = dict(info, id=img_id)
        for ann in info.pop("anno_info"):
            out["annotations"].append(dict(ann, image_id=img_id, id=len(out["annotations"]) + 1))
        out["images"].append(info)
    out["categories"] = [dict(id=label.id, name=label.name) for label in INSTANCE_LABELS]
    if not out["annotations"]:  # as mmdetection writes a split without instances (test)
        out.pop("annotations")
    return out


def convert_cityscapes(root: str | os.PathLike, img_dir: str = "leftImg8bit", gt_dir: str = "gtFine",
                       out_dir: str | os.PathLike | None = None, nproc: int = 1,
                       progress: Callable[[str, int], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Convert every split found under ``root``; returns per split ``{file, images, instances}``.

    ``progress(split, n_images)`` is a context manager factory whose value has ``advance(n)``
    (``detcli.apis.progress.progress_bar`` fits). Splits without images are skipped.
    """
    root = Path(root)
    out = Path(out_dir) if out_dir is not None else root
    if not (root / img_dir).is_dir():
        raise DataError(f"no Cityscapes image folder {root / img_dir}",
                        hint="ROOT must hold leftImg8bit/<split>/<city>/*.png (or give --img-dir)")
    summary: dict[str, dict[str, Any]] = {}
    for split, json_name in SPLIT_FILES.items():
        files = collect_files(root / img_dir / split, root / gt_dir / split)
        if not files:
            continue
        infos = []
        with (progress or _silent)(split, len(files)) as bar:
            for info in _map(files, nproc):
                infos.append(info)
                bar.advance(1)
        coco = to_coco(infos)
        dump(coco, out / json_name)
        summary[split] = dict(file=str(out / json_name), images=len(coco["images"]),
                              instances=len(coco.get("annotations", [])))
    if not summary:
        raise DataError(f"no images under {root / img_dir}/{{train,val,test}}/<city>/*_{IMG_SUFFIX}",
                        hint="ROOT must be the Cityscapes folder that holds leftImg8bit/ and gtFine/")
    return summary
