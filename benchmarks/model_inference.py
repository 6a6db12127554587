"""CPU inference time of detcli's Faster R-CNN R50-FPN next to torchvision's, same image, same run.

Both models have random weights (nothing is downloaded) and comparable test settings:
1000 RPN proposals kept per level before NMS and 1000 after, box score threshold 0.05,
at most 100 detections, and an 800x1216 input that neither model resizes. Timed: the
model call on a ready tensor (torchvision's call includes its cheap normalisation);
warm-up runs first, then the median of ``--runs`` taken in turns (ours, theirs, ours, ...).

    .venv/bin/python benchmarks/model_inference.py --threads 2 --runs 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "_base_" / "models" / "faster_rcnn_r50_fpn.py"
HEIGHT, WIDTH = 800, 1216
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def build_detcli_model(config: Path, fast: bool = True) -> torch.nn.Module:
    """``fast``: channels-last and BatchNorm folded (opt-in); else as ``init_detector`` at its defaults."""
    from detcli.config import Config
    from detcli.models import build_detector

    cfg = Config.fromfile(str(config))
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None  # random weights: no torchvision:// download
    model_cfg.test_cfg.rpn.update(nms_pre=1000, max_per_img=1000)
    model_cfg.test_cfg.rcnn.update(score_thr=0.05, max_per_img=100)
    model = build_detector(model_cfg)
    model.init_weights()
    # the fast path is opt-in: `channels_last = True` and `det test --fuse-conv-bn`
    from detcli.engine.inference_setup import prepare_for_inference

    cfg.channels_last = fast
    return prepare_for_inference(model, cfg, "cpu", fuse_conv_bn=fast)


def build_torchvision_model() -> torch.nn.Module:
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    model = fasterrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=81,  # 80 COCO classes + background, as the detcli head
        min_size=HEIGHT,
        max_size=1333,  # 800x1216 is already inside (800, 1333): no resize
        rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=1000,
        box_score_thresh=0.05,
        box_detections_per_img=100,
    )
    return model.eval()


def interleaved_seconds(fns, warmup: int, runs: int) -> list[list[float]]:
    """Time the callables in turns, so that both see the same machine load."""
    times: list[list[float]] = [[] for _ in fns]
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns:
                fn()
        for _ in range(runs):
            for fn, slot in zip(fns, times):
                start = time.perf_counter()
                fn()
                slot.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--path", choices=("fast", "default"), default="fast",
                        help="detcli's opt-in fast inference path (channels-last, BatchNorm folded) or its defaults")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    image = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)  # one RGB image for both

    ours = build_detcli_model(args.config, fast=args.path == "fast")
    normalised = torch.from_numpy(((image.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1).copy())[None]
    meta = dict(
        filename="random.png", ori_filename="random.png", ori_shape=(HEIGHT, WIDTH, 3),
        img_shape=(HEIGHT, WIDTH, 3), pad_shape=(HEIGHT, WIDTH, 3),
        scale_factor=np.ones(4, dtype=np.float32), flip=False, flip_direction=None,
        img_norm_cfg=dict(mean=MEAN, std=STD, to_rgb=True),
    )

    def run_ours():
        return ours(return_loss=False, rescale=True, img=[normalised], img_metas=[[dict(meta)]])

    theirs = build_torchvision_model()
    as_unit = torch.from_numpy(image.transpose(2, 0, 1).copy()).float() / 255.0

    def run_theirs():
        return theirs([as_unit])

    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, image {HEIGHT}x{WIDTH}, "
          f"warmup={args.warmup}, runs={args.runs}, detcli path={args.path}")
    ours_all, theirs_all = interleaved_seconds([run_ours, run_theirs], args.warmup, args.runs)
    ours_s, theirs_s = statistics.median(ours_all), statistics.median(theirs_all)
    rows = [("detcli FasterRCNN R50-FPN", ours_s, ours_all), ("torchvision fasterrcnn_resnet50_fpn", theirs_s, theirs_all)]
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  median s  min s   max s")
    for name, med, all_times in rows:
        print(f"{name:<{width}}  {med:8.3f}  {min(all_times):6.3f}  {max(all_times):6.3f}")
    print(f"ratio detcli / torchvision: {ours_s / theirs_s:.2f}")


if __name__ == "__main__":
    main()
