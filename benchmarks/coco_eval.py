"""COCO evaluation: detcli's default (faster-coco-eval's C++ matcher) next to pycocotools' COCOeval.

Both sides run detcli's own ``evaluate_coco`` on the same 2.x results (the result-to-json
conversion is the same code on both sides and is included in the time); only the backend
differs (``DETCLI_COCOEVAL``). Cases: a generated set of ``--images`` images (80 classes,
1-14 objects with polygon masks, crowd regions, 100 detections per image: jittered
duplicates of the objects and random boxes), for bbox and for segm; and the shapes val split
with jittered ground-truth detections. Checks: the 12 stats are equal to the last printed
digit (and their largest float difference), and the whole printed output, class-wise tables
included, is the same text.

    .venv/bin/python benchmarks/coco_eval.py [--images 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratio_table import ROOT, Comparison, Report, finish, in_turns, load_average, machine_facts  # noqa: E402

SHAPES = ROOT / "data" / "shapes"


class CocoSet:
    """What ``evaluate_coco`` reads from a dataset: ``coco``, ``img_ids``, ``cat_ids``, ``len``."""

    def __init__(self, coco: Any) -> None:
        self.coco = coco
        self.img_ids = sorted(coco.getImgIds())
        self.cat_ids = sorted(coco.getCatIds())

    def __len__(self) -> int:
        return len(self.img_ids)


def _coco(data: dict) -> Any:
    from pycocotools.coco import COCO

    api = COCO()
    api.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


def _blob(rng: np.random.Generator, x: float, y: float, w: float, h: float, width: int, height: int) -> list[float]:
    ang = np.linspace(0, 2 * np.pi, 9)[:-1]
    r = 1 + rng.uniform(-0.3, 0.3, 8)
    pts = np.stack([x + w / 2 * (1 + r * np.cos(ang)), y + h / 2 * (1 + r * np.sin(ang))], 1)
    return pts.clip(0, [width - 1, height - 1]).ravel().tolist()


def generated_case(num_images: int, dets_per_image: int = 100, seed: int = 0) -> tuple[CocoSet, list]:
    """A COCO-like ground truth and 2.x (bbox, segm) results with RLE masks."""
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(seed)
    height, width, num_classes = 480, 640, 80
    images = [dict(id=i + 1, width=width, height=height, file_name=f"{i:06d}.jpg") for i in range(num_images)]
    cats = [dict(id=2 * c + 1, name=f"class{c}") for c in range(num_classes)]
    anns, results = [], []
    for img in images:
        objects = []
        for _ in range(rng.integers(1, 15)):
            w, h = rng.uniform(6, 320, 2)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            label = int(rng.integers(num_classes))
            poly = _blob(rng, x, y, w, h, width, height)
            area = float(mask_util.area(mask_util.merge(mask_util.frPyObjects([poly], height, width))))
            anns.append(dict(id=len(anns) + 1, image_id=img["id"], category_id=cats[label]["id"], bbox=[x, y, w, h],
                             segmentation=[poly], area=area, iscrowd=int(rng.random() < 0.02)))
            objects.append((x, y, w, h, label))
        boxes, labels, polys = [], [], []
        for k in range(dets_per_image):
            if k < 3 * len(objects):
                x, y, w, h, label = objects[k % len(objects)]
                x, y = x + rng.normal(0, 0.1 * w), y + rng.normal(0, 0.1 * h)
                w, h = w * rng.uniform(0.8, 1.2), h * rng.uniform(0.8, 1.2)
            else:
                w, h = rng.uniform(6, 320, 2)
                x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
                label = int(rng.integers(num_classes))
            boxes.append([x, y, x + w, y + h, rng.random()])
            labels.append(label)
            polys.append(_blob(rng, x, y, w, h, width, height))
        rles = mask_util.frPyObjects(polys, height, width)
        boxes_arr = np.asarray(boxes, np.float32)
        labels_arr = np.asarray(labels)
        bbox_result = [boxes_arr[labels_arr == c] for c in range(num_classes)]
        segm_result = [[rles[i] for i in np.flatnonzero(labels_arr == c)] for c in range(num_classes)]
        results.append((bbox_result, segm_result))
    return CocoSet(_coco(dict(images=images, categories=cats, annotations=anns))), results


def shapes_case(root: Path, seed: int = 0) -> tuple[CocoSet, list]:
    """The shapes val split with each object detected 3 times (jittered box and mask) plus 5 false positives."""
    import json

    from pycocotools import mask as mask_util

    if not (root / "annotations" / "instances_val.json").is_file():
        from detcli.data.synthetic import generate_shapes

        print(f"generating the shapes set in {root} ...", flush=True)
        generate_shapes(root, workers=min(4, os.cpu_count() or 1))
    ds = CocoSet(_coco(json.loads((root / "annotations" / "instances_val.json").read_text())))
    rng = np.random.default_rng(seed)
    results = []
    for img_id in ds.img_ids:
        info = ds.coco.imgs[img_id]
        h, w = info["height"], info["width"]
        bbox_result = [[] for _ in ds.cat_ids]
        segm_result = [[] for _ in ds.cat_ids]
        for ann in ds.coco.loadAnns(ds.coco.getAnnIds(imgIds=[img_id], iscrowd=False)):
            label = ds.cat_ids.index(ann["category_id"])
            mask = ds.coco.annToMask(ann)
            x, y, bw, bh = ann["bbox"]
            for _ in range(3):
                dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
                bbox_result[label].append([x + dx, y + dy, x + bw + dx, y + bh + dy, rng.random()])
                segm_result[label].append(np.roll(mask, (dy, dx), axis=(0, 1)))
        for _ in range(5):
            label = int(rng.integers(len(ds.cat_ids)))
            bw, bh = rng.uniform(10, 120, 2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            bbox_result[label].append([x, y, x + bw, y + bh, rng.random()])
            m = np.zeros((h, w), np.uint8)
            m[int(y):int(y + bh), int(x):int(x + bw)] = 1
            segm_result[label].append(m)
        segm_rles = [mask_util.encode(np.asfortranarray(np.stack(s, -1))) if s else [] for s in segm_result]
        results.append(([np.asarray(b, np.float32).reshape(-1, 5) for b in bbox_result], segm_rles))
    return ds, results


def evaluate_with(backend: str, ds: CocoSet, results: list, metric: str) -> tuple[dict, str]:
    """``evaluate_coco`` under ``backend``, class-wise tables on; its metrics and its printed text."""
    from detcli.evaluation import evaluate_coco
    from detcli.evaluation.cocoeval_backend import BACKEND_ENV

    text = io.StringIO()
    logger = logging.getLogger(f"bench.coco_eval.{backend}")
    logger.handlers = [logging.StreamHandler(text)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    os.environ[BACKEND_ENV] = backend
    try:
        out = evaluate_coco(ds, results, metric=metric, logger=logger, classwise=True)
    finally:
        os.environ.pop(BACKEND_ENV, None)
    return out, text.getvalue()


def compare_case(name: str, ds: CocoSet, results: list, metric: str, repeats: int, report: Report) -> None:
    from detcli.evaluation.cocoeval_backend import FASTER, PYCOCOTOOLS

    outputs: dict[str, tuple[dict, str]] = {}

    def run(backend: str):
        def go() -> None:
            outputs[backend] = evaluate_with(backend, ds, results, metric)
        return go

    load = load_average()
    faster_s, pyco_s = in_turns([run(FASTER), run(PYCOCOTOOLS)], repeats=repeats, warmup=0)
    (ours, our_text), (theirs, their_text) = outputs[FASTER], outputs[PYCOCOTOOLS]
    keys = [k for k in theirs if not k.endswith("copypaste")]
    report.checks[f"{name}: {metric} metrics equal"] = all(ours[k] == theirs[k] for k in keys)
    report.checks[f"{name}: {metric} printed output (summary + class-wise table) identical"] = our_text == their_text
    report.checks[f"{name}: {metric}_mAP"] = ours[f"{metric}_mAP"]
    report.rows.append(Comparison(f"{name}, {metric}", faster_s, pyco_s, unit="s", peer="pycocotools", goal=3.0,
                                  note=f"load avg {load} at start"))
    print(f"{name} {metric}: faster-coco-eval {faster_s} s, pycocotools {pyco_s} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images of the generated set (0: skip it)")
    parser.add_argument("--dets", type=int, default=100, help="detections per image of the generated set")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the generated set's cases")
    parser.add_argument("--shapes-repeats", type=int, default=9, help="repeats of the (sub-second) shapes cases")
    parser.add_argument("--shapes", type=Path, default=SHAPES, help="the shapes set (generated when missing)")
    parser.add_argument("--out-name", default="coco_eval")
    args = parser.parse_args()

    report = Report("COCO evaluation: detcli (faster-coco-eval) vs pycocotools, seconds per evaluate_coco call",
                    meta=machine_facts(threads=1))
    from importlib.metadata import version

    report.meta.update(faster_coco_eval=version("faster-coco-eval"), pycocotools=version("pycocotools"),
                       images=args.images, dets_per_image=args.dets, repeats=args.repeats,
                       shapes_repeats=args.shapes_repeats)
    ds, results = shapes_case(args.shapes)
    for metric in ("bbox", "segm"):
        compare_case(f"shapes val ({len(ds)} images)", ds, results, metric, args.shapes_repeats, report)
    if args.images <= 0:
        finish(report, args.out_name)
        return
    print(f"generating {args.images} images x {args.dets} detections ...", flush=True)
    ds, results = generated_case(args.images, args.dets)
    for metric in ("bbox", "segm"):
        compare_case(f"generated ({args.images} images x {args.dets} dets)", ds, results, metric, args.repeats, report)
    finish(report, args.out_name)


if __name__ == "__main__":
    main()
