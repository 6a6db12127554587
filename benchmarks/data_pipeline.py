"""Throughput of the shapes COCO train pipeline on one core (images/s), with a per-step breakdown.

    .venv/bin/python benchmarks/data_pipeline.py [--data data/shapes] [--images 400] [--poly]

Without ``--data`` a 400-image shapes set is generated in a temporary directory first.
``--poly`` keeps masks as polygons (``poly2mask=False``) instead of bitmaps.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import torch  # noqa: E402

from detcli.config import Config  # noqa: E402
from detcli.data import build_dataset, collate  # noqa: E402
from detcli.data.synthetic import generate_shapes  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs/_base_/datasets/shapes_instance.py"


def _timed(transform, name, totals):
    def run(results):
        start = time.perf_counter()
        out = transform(results)
        totals[name] += time.perf_counter() - start
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an existing shapes set (default: generate one)")
    parser.add_argument("--images", type=int, default=400, help="samples to time")
    parser.add_argument("--poly", action="store_true", help="PolygonMasks instead of BitmapMasks")
    parser.add_argument("--batch", type=int, default=4, help="collate batches of this size")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

    tmp = None
    root = args.data
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
        start = time.perf_counter()
        generate_shapes(root, num_train=args.images, num_val=0)
        print(f"generated {args.images} images in {time.perf_counter() - start:.1f}s (one process)")

    cfg = Config.fromfile(str(CONFIG))
    train = cfg.data.train
    train.ann_file = str(root / "annotations/instances_train.json")
    train.img_prefix = str(root / "train")
    if args.poly:
        train.pipeline[1]["poly2mask"] = False
    dataset = build_dataset(train)
    totals: dict[str, float] = defaultdict(float)
    steps = dataset.pipeline.transforms
    dataset.pipeline.transforms = [_timed(t, type(t).__name__, totals) for t in steps]

    n = min(args.images, len(dataset))
    dataset[0]  # warm up (imports, first allocation)
    totals.clear()
    samples = []
    start = time.perf_counter()
    for i in range(n):
        samples.append(dataset[i % len(dataset)])
    pipe_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, n - args.batch + 1, args.batch):
        collate(samples[i:i + args.batch])
    collate_s = time.perf_counter() - start

    masks = "PolygonMasks" if args.poly else "BitmapMasks"
    print(f"COCO train pipeline, shapes 320x320, {masks}, one core: {n / pipe_s:.1f} images/s "
          f"({1000 * pipe_s / n:.2f} ms/image)")
    for name, secs in totals.items():
        print(f"  {name:<22s} {1000 * secs / n:6.2f} ms/image")
    print(f"collate (batch {args.batch}): {1000 * collate_s / max(n // args.batch, 1):.2f} ms/batch")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
