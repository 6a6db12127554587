"""How cost grows with the work: training vs ground-truth boxes per image, inference vs image size.

``gts``: one training iteration of the shapes Mask R-CNN R18-FPN (batch 2, 320x320,
random images) with 10, 100 and 1000 ground-truth boxes and masks per image (crowd scenes):
seconds per iteration and the peak memory the iterations add over the model's own (each case
in a fresh process: ``ru_maxrss`` after minus before). The RPN assigner compares every anchor
with every box (an anchors x boxes IoU matrix), the part that grows with both.

``sizes``: inference of Faster R-CNN R50-FPN (random weights, on detcli's fast inference path:
channels-last, BatchNorm folded) on square images of 320 to 1333 pixels a side: seconds per image and per megapixel.

    .venv/bin/python benchmarks/scaling.py [--parts gts,sizes] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MASK_RCNN = ROOT / "configs" / "shapes" / "mask_rcnn_r18_fpn_shapes.py"
R50 = ROOT / "configs" / "_base_" / "models" / "faster_rcnn_r50_fpn.py"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_gts(num_gts: int, iters: int, threads: int) -> dict:
    """Seconds per training iteration and the peak memory it adds, with ``num_gts`` boxes per image."""
    import numpy as np
    import torch

    from detcli.config import Config
    from detcli.engine.memory_format import apply_memory_format
    from detcli.models import build_detector
    from detcli.structures.masks import BitmapMasks

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = Config.fromfile(str(MASK_RCNN))
    model = apply_memory_format(build_detector(cfg.model), cfg, "cpu")
    model.init_weights()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    size, batch = 320, 2
    img = torch.randn(batch, 3, size, size)
    metas = [dict(img_shape=(size, size, 3), ori_shape=(size, size, 3), pad_shape=(size, size, 3),
                  scale_factor=np.ones(4, np.float32), flip=False, batch_input_shape=(size, size))] * batch
    gt_bboxes, gt_labels, gt_masks = [], [], []
    for _ in range(batch):
        wh = rng.uniform(8, 96, (num_gts, 2))
        xy = rng.uniform(0, size - wh)
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        masks = np.zeros((num_gts, size, size), np.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            masks[k, y1:y2, x1:x2] = 1
        gt_bboxes.append(torch.from_numpy(boxes))
        gt_labels.append(torch.from_numpy(rng.integers(0, 4, num_gts)))
        gt_masks.append(BitmapMasks(masks, size, size))

    def step() -> None:
        losses = model(img=img, img_metas=metas, gt_bboxes=gt_bboxes, gt_labels=gt_labels, gt_masks=gt_masks)
        loss = sum(v if torch.is_tensor(v) else sum(v) for k, v in losses.items() if "loss" in k)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    before = _rss_mb()
    step()  # warm-up (first allocations count towards the peak: they are the iteration's own)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    num_anchors = sum(3 * (size // s) ** 2 for s in (4, 8, 16, 32, 64))
    return dict(num_gts=num_gts, s_per_iter=statistics.median(times), peak_added_mb=_rss_mb() - before,
                iou_matrix_mb=num_anchors * num_gts * 4 / 2 ** 20, anchors=num_anchors)


def case_size(size: int, runs: int, threads: int) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    import model_inference as mi

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = mi.build_detcli_model(R50)
    img = torch.randn(1, 3, size, size)
    meta = dict(img_shape=(size, size, 3), ori_shape=(size, size, 3), pad_shape=(size, size, 3),
                scale_factor=np.ones(4, np.float32), flip=False, batch_input_shape=(size, size))
    times = []
    with torch.inference_mode():
        model(return_loss=False, rescale=True, img=[img], img_metas=[[dict(meta)]])
        for _ in range(runs):
            start = time.perf_counter()
            model(return_loss=False, rescale=True, img=[img], img_metas=[[dict(meta)]])
            times.append(time.perf_counter() - start)
    s = statistics.median(times)
    return dict(size=size, s_per_image=s, s_per_megapixel=s / (size * size / 1e6), peak_rss_mb=_rss_mb())


def _child(args: argparse.Namespace, kind: str, value: int) -> dict:
    cmd = [sys.executable, __file__, "--case", kind, "--value", str(value), "--threads", str(args.threads),
           "--iters", str(args.iters), "--runs", str(args.runs)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="gts,sizes")
    parser.add_argument("--gts", default="10,100,1000")
    parser.add_argument("--sizes", default="320,480,640,800,1024,1333")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out-name", default="scaling")
    parser.add_argument("--case", choices=("gts", "size"), help=argparse.SUPPRESS)
    parser.add_argument("--value", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        fn = case_gts if args.case == "gts" else case_size
        print(json.dumps(fn(args.value, args.iters if args.case == "gts" else args.runs, args.threads)))
        return

    from rich.console import Console
    from rich.table import Table

    sys.path.insert(0, str(HERE))
    from ratio_table import OUT_DIR, load_average, machine_facts

    from detcli.atomic_write import dump_json_atomic

    result: dict = dict(meta=machine_facts(threads=args.threads))
    console = Console(width=150)
    if "gts" in args.parts:
        rows = [_child(args, "gts", int(n)) for n in args.gts.split(",")]
        result["gts"] = rows
        table = Table(title="Mask R-CNN R18-FPN training iteration (batch 2, 320x320) vs gt boxes per image")
        for col in ("gt boxes/image", "s/iteration", "x vs first", "peak memory added, MB", "RPN IoU matrix, MB"):
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(str(r["num_gts"]), f"{r['s_per_iter']:.3f}", f"{r['s_per_iter'] / rows[0]['s_per_iter']:.2f}",
                          f"{r['peak_added_mb']:.0f}", f"{r['iou_matrix_mb']:.1f}")
        console.print(table)
    if "sizes" in args.parts:
        rows = [_child(args, "size", int(s)) for s in args.sizes.split(",")]
        result["sizes"] = rows
        table = Table(title="Faster R-CNN R50-FPN inference (batch 1, random weights) vs image size")
        for col in ("side, px", "s/image", "s/megapixel", "peak RSS, MB"):
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(str(r["size"]), f"{r['s_per_image']:.3f}", f"{r['s_per_megapixel']:.3f}",
                          f"{r['peak_rss_mb']:.0f}")
        console.print(table)
    result["meta"]["load_avg_end"] = load_average()
    path = OUT_DIR / f"{args.out_name}.json"
    dump_json_atomic(result, path, indent=1)
    print(f"written: {path}  (load avg {result['meta']['load_avg_start']} -> {result['meta']['load_avg_end']})")


if __name__ == "__main__":
    main()
