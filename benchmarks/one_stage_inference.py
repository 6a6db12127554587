"""CPU inference time of FCOS R50 next to RetinaNet R50 (same backbone and neck depth), one run.

Both are built from their COCO configs in configs/ with random weights (nothing is
downloaded) and run as ``det test`` runs them (channels-last on the CPU) on the same random
800x1216 image, which their test pipelines would not resize further. Timed in turns after
warm-up: the whole model call and, separately, the dense head's post-processing alone
(``get_bboxes``: score threshold, top-k per level, decoding, batched NMS; no per-box Python
loop). ``--score-thr 0`` makes every level send its ``nms_pre`` best boxes into NMS (the
worst case); the default keeps the configs' 0.05, which random weights rarely pass.

    .venv/bin/python benchmarks/one_stage_inference.py --threads 2 --runs 7 [--score-thr 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_inference import HEIGHT, MEAN, STD, WIDTH, interleaved_seconds  # noqa: E402

CONFIGS = {
    "FCOS R50-caffe-FPN (GN head)": ROOT / "configs/fcos/fcos_r50_caffe_fpn_gn-head_1x_coco.py",
    "RetinaNet R50-FPN": ROOT / "configs/retinanet/retinanet_r50_fpn_1x_coco.py",
}


def build(config: Path, score_thr: float | None) -> torch.nn.Module:
    from detcli.config import Config
    from detcli.engine.memory_format import apply_memory_format
    from detcli.models import build_detector

    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg = None  # random weights
    if score_thr is not None:
        cfg.model.test_cfg.score_thr = score_thr
    model = build_detector(cfg.model)
    model.init_weights()
    return apply_memory_format(model, cfg, "cpu").eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--score-thr", type=float, default=None, help="override the configs' test score_thr")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    image = np.random.default_rng(args.seed).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    tensor = torch.from_numpy(((image.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1).copy())[None]
    meta = dict(ori_shape=(HEIGHT, WIDTH, 3), img_shape=(HEIGHT, WIDTH, 3), pad_shape=(HEIGHT, WIDTH, 3),
                scale_factor=np.ones(4, dtype=np.float32), flip=False, flip_direction=None,
                batch_input_shape=(HEIGHT, WIDTH))
    models = {name: build(path, args.score_thr) for name, path in CONFIGS.items()}
    calls, post = [], []
    counts = {}
    with torch.inference_mode():
        for name, model in models.items():
            calls.append(lambda m=model: m(return_loss=False, rescale=True, img=[tensor], img_metas=[[dict(meta)]]))
            outs = model.bbox_head(model.extract_feat(tensor))
            post.append(lambda m=model, o=outs: m.bbox_head.get_bboxes(*o, img_metas=[dict(meta)], rescale=True))
            pre_nms = model.bbox_head.get_bboxes(*outs, img_metas=[dict(meta)], with_nms=False)[0][0]
            counts[name] = (len(pre_nms), len(post[-1]()[0][0]))
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, image {HEIGHT}x{WIDTH}, "
          f"warmup={args.warmup}, runs={args.runs}, score_thr={args.score_thr if args.score_thr is not None else 'config'}")
    whole = interleaved_seconds(calls, args.warmup, args.runs)
    heads = interleaved_seconds(post, args.warmup, args.runs)
    width = max(len(n) for n in models)
    print(f"{'model':<{width}}  model median s  post-processing median s  boxes into NMS -> kept")
    for name, model_s, post_s in zip(models, whole, heads):
        print(f"{name:<{width}}  {statistics.median(model_s):14.3f}  {statistics.median(post_s):24.4f}  "
              f"{counts[name][0]} -> {counts[name][1]}")
    fcos, retina = (statistics.median(t) for t in whole)
    print(f"ratio FCOS / RetinaNet: {fcos / retina:.2f}")


if __name__ == "__main__":
    main()
