"""The COCO train pipeline, detcli next to mmdetection 2.28: images/s in one process, same images and transforms.

Both sides build the train set of ``configs/_base_/datasets/shapes_instance.py`` (the same
file: mmcv's ``Config`` reads it too) on the same shapes images, and time
``dataset[i]`` (LoadImageFromFile, LoadAnnotations with masks, Resize, RandomFlip,
Normalize, Pad, DefaultFormatBundle, Collect) for ``--images`` samples plus the collate of
batches of 4, with one thread (OpenCV and torch). Each side runs in its own process (its own
interpreter); the rounds alternate the order, and each round's pair gives one ratio. The
per-transform milliseconds are printed for both. ``--poly`` keeps polygon masks on both sides.

    .venv/bin/python benchmarks/pipeline_vs_mmdet.py [--images 300] [--repeats 3] [--mmdet-python PY]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "configs" / "_base_" / "datasets" / "shapes_instance.py"


def side(impl: str, data: Path, images: int, poly: bool, batch: int) -> dict:
    """Run in the side's own interpreter: time the pipeline and collate; return the figures."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    if impl == "mmdet":
        sys.path.insert(0, str(HERE))
        import mmdet_env

        mmdet_env.install_ext_placeholder()  # the pipeline never calls an op
        from mmcv import Config
        from mmcv.parallel import collate
        from mmdet.datasets import build_dataset
    else:
        from detcli.config import Config
        from detcli.data import build_dataset, collate

    cfg = Config.fromfile(str(CONFIG))
    train = cfg.data.train
    train.ann_file = str(data / "annotations" / "instances_train.json")
    train.img_prefix = str(data / "train") + "/"
    if poly:
        train.pipeline[1]["poly2mask"] = False
    dataset = build_dataset(train)
    totals: dict[str, float] = defaultdict(float)

    def timed(transform, name):
        def run(results):
            start = time.perf_counter()
            out = transform(results)
            totals[name] += time.perf_counter() - start
            return out
        return run

    dataset.pipeline.transforms = [timed(t, type(t).__name__) for t in dataset.pipeline.transforms]
    n = min(images, len(dataset))
    for i in range(3):  # warm-up: imports, first allocations
        dataset[i]
    totals.clear()
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
    start = time.perf_counter()
    samples = [dataset[i] for i in range(n)]
    pipe_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, n - batch + 1, batch):
        collate(samples[i:i + batch], samples_per_gpu=batch)
    collate_s = time.perf_counter() - start
    return dict(images=n, pipeline_s=pipe_s, collate_s=collate_s, total_s=pipe_s + collate_s,
                steps_ms={k: 1000 * v / n for k, v in totals.items()})


def run_side(python: str, impl: str, args: argparse.Namespace) -> dict:
    cmd = [python, __file__, "--side", impl, "--data", str(args.data), "--images", str(args.images),
           "--batch", str(args.batch)] + (["--poly"] if args.poly else [])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) if impl == "detcli" else "")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=str(ROOT))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "shapes")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--poly", action="store_true", help="polygon masks (poly2mask=False) on both sides")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mmdet-python", help="an interpreter with mmdet 2.28 + mmcv 1.7 (see mmdet_env.py)")
    parser.add_argument("--side", choices=("detcli", "mmdet"), help=argparse.SUPPRESS)
    parser.add_argument("--out-name", default="pipeline_vs_mmdet")
    args = parser.parse_args()
    if args.side:
        print(json.dumps(side(args.side, args.data, args.images, args.poly, args.batch)))
        return

    sys.path.insert(0, str(HERE))
    import mmdet_env
    from ratio_table import Comparison, Report, finish, machine_facts

    if not (args.data / "annotations" / "instances_train.json").is_file():
        from detcli.data.synthetic import generate_shapes

        print(f"generating the shapes set in {args.data} ...", flush=True)
        generate_shapes(args.data, workers=min(4, os.cpu_count() or 1))
    python = mmdet_env.find_mmdet_python(args.mmdet_python)
    if python is None:
        print("no mmdetection 2.28 interpreter found: building the throw-away venv ...", flush=True)
        python = mmdet_env.build_mmdet_venv()
    report = Report(f"Train pipeline, shapes 320x320, {'polygon' if args.poly else 'bitmap'} masks, one thread: "
                    f"seconds for {args.images} samples + collate", meta=machine_facts(threads=1))
    report.meta.update(mmdet_python=python, images=args.images, repeats=args.repeats)
    runs: dict[str, list[dict]] = {"detcli": [], "mmdet": []}
    for r in range(args.repeats):
        for impl in (("detcli", "mmdet") if r % 2 == 0 else ("mmdet", "detcli")):
            runs[impl].append(run_side(sys.executable if impl == "detcli" else python, impl, args))
        print(f"round {r + 1}: detcli {runs['detcli'][-1]['total_s']:.2f} s, mmdet {runs['mmdet'][-1]['total_s']:.2f} s",
              flush=True)
    n = runs["detcli"][0]["images"]
    report.rows.append(Comparison("pipeline + collate", [x["total_s"] for x in runs["detcli"]],
                                  [x["total_s"] for x in runs["mmdet"]], peer="mmdet 2.28", goal=2.0,
                                  note=f"{n} images"))
    report.rows.append(Comparison("pipeline only", [x["pipeline_s"] for x in runs["detcli"]],
                                  [x["pipeline_s"] for x in runs["mmdet"]], peer="mmdet 2.28"))
    for impl, rs in runs.items():
        last = rs[-1]
        report.checks[f"{impl} images/s (last round)"] = round(n / last["total_s"], 1)
        report.checks[f"{impl} ms per image per step (last round)"] = {k: round(v, 3)
                                                                        for k, v in last["steps_ms"].items()}
    finish(report, args.out_name + ("_poly" if args.poly else ""))


if __name__ == "__main__":
    main()
