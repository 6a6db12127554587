"""detcli's Faster R-CNN R18-FPN next to torchvision's ``FasterRCNN``, trained and tested on the
shapes set in one run on this machine.

torchvision's model is built to match ``configs/shapes/faster_rcnn_r18_fpn_shapes.py``: the same
ResNet-18 + FPN (its width, trained from scratch, BatchNorm updated), FPN width, anchors (sizes, ratios,
strides), RPN/RoI sampler sizes and IoU thresholds, proposal counts, RoI size, head width, box
coder weights, test thresholds, image size (320, no resize), normalisation, flip augmentation,
batch size, loader workers, optimizer, warmup + step LR schedule, gradient clipping, the box
head's initialisation (the config keeps torch.nn.Linear's, as torchvision does) and number of
iterations. What stays different: the box losses (the config's L1 against torchvision's smooth
L1 with beta 1/9), RoIAlign ``aligned=False`` in torchvision, and the FPN's initialisation.

Each phase runs in a fresh process, one at a time (so peak RSS is that phase's own):
train detcli, train torchvision, then for each model mAP on the val split (pycocotools,
the same code for both), then inference images/s of both trained models at batch 1 and 8
from decoded images (pre-processing, model and post-processing included), timed in turns
in one process, and finally detcli's R50-FPN next to ``fasterrcnn_resnet50_fpn`` at
800x1216 (``benchmarks/model_inference.py``).

    .venv/bin/python benchmarks/vs_torchvision.py                      # train, speed and r50 parts
    .venv/bin/python benchmarks/vs_torchvision.py --parts speed,r50    # inference only (make bench-infer)
    .venv/bin/python benchmarks/vs_torchvision.py --epochs 1           # a quick look
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "shapes" / "faster_rcnn_r18_fpn_shapes.py"
DATA = ROOT / "data" / "shapes"
IMPLS = ("detcli", "torchvision")


# ---------------------------------------------------------------------------------------------
# shared facts
# ---------------------------------------------------------------------------------------------
def load_cfg(args: argparse.Namespace) -> Any:
    """The benchmark config: the shapes config with --epochs (LR steps scaled alike) and data root."""
    from detcli.config import Config

    cfg = Config.fromfile(str(args.config))
    full = cfg.runner.max_epochs
    if args.epochs and args.epochs != full:
        cfg.runner.max_epochs = args.epochs
        cfg.lr_config.step = [max(1, round(s * args.epochs / full)) for s in cfg.lr_config.step]
    root = str(args.data) + "/"
    for split, name in (("train", "train"), ("val", "val"), ("test", "val")):
        cfg.data[split].ann_file = root + f"annotations/instances_{name}.json"
        cfg.data[split].img_prefix = root + f"{name}/"
    cfg.checkpoint_config = dict(interval=cfg.runner.max_epochs)  # one checkpoint, at the end
    cfg.custom_hooks = []
    return cfg


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lr_at(cfg: Any, epoch: int, it: int) -> float:
    """detcli's ``step`` policy with linear warmup, written out for the torchvision loop."""
    lr_cfg = cfg.lr_config
    regular = cfg.optimizer.lr * lr_cfg.get("gamma", 0.1) ** bisect.bisect_right(lr_cfg.step, epoch)
    warmup = lr_cfg.get("warmup_iters", 0) if lr_cfg.get("warmup") else 0
    if it >= warmup:
        return regular
    assert lr_cfg.warmup == "linear", "only linear warmup is mirrored"
    k = (1 - it / warmup) * (1 - lr_cfg.warmup_ratio)
    return regular * (1 - k)


def val_images(cfg: Any) -> tuple[list[int], list[np.ndarray]]:
    """Image ids and decoded BGR images of the val split, in file order."""
    import cv2
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(cfg.data.test.ann_file)
    ids = sorted(coco.getImgIds())
    imgs = [cv2.imread(os.path.join(cfg.data.test.img_prefix, coco.loadImgs([i])[0]["file_name"])) for i in ids]
    return ids, imgs


def coco_bbox_map(ann_file: str, detections: list[dict]) -> float:
    """COCO bbox AP@[.5:.95] of ``detections`` (one pycocotools call for both models)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def time_batches(run: Any, imgs: list[np.ndarray], batch: int, warmup: int = 2) -> float:
    """Images per second of ``run(list_of_images)`` over whole batches of ``imgs``."""
    import torch

    chunks = [imgs[i:i + batch] for i in range(0, len(imgs) - batch + 1, batch)]
    with torch.inference_mode():
        for chunk in chunks[:warmup]:
            run(chunk)
        start = time.perf_counter()
        for chunk in chunks:
            run(chunk)
        elapsed = time.perf_counter() - start
    return len(chunks) * batch / elapsed


# ---------------------------------------------------------------------------------------------
# torchvision's side
# ---------------------------------------------------------------------------------------------
def torchvision_resnet18(base_channels: int, zero_init_residual: bool) -> Any:
    """torchvision's resnet18 with ``base_channels`` in its first stage (64 is the stock network).

    torchvision hard-codes the widths, so for another width the stem and the four stages are
    rebuilt with its own ``_make_layer``/``BasicBlock`` and initialised as its constructor does.
    """
    from torch import nn
    from torchvision.models import resnet18
    from torchvision.models.resnet import BasicBlock

    net = resnet18(weights=None, norm_layer=nn.BatchNorm2d, zero_init_residual=zero_init_residual)
    if base_channels == 64:
        return net
    net.inplanes = base_channels
    net.conv1 = nn.Conv2d(3, base_channels, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(base_channels)
    for i in range(4):
        setattr(net, f"layer{i + 1}", net._make_layer(BasicBlock, base_channels * 2**i, 2, stride=1 if i == 0 else 2))
    net.fc = nn.Linear(base_channels * 8, net.fc.out_features)
    for mod in net.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.constant_(mod.weight, 1)
            nn.init.constant_(mod.bias, 0)
    if zero_init_residual:
        for mod in net.modules():
            if isinstance(mod, BasicBlock):
                nn.init.constant_(mod.bn2.weight, 0)
    return net


def build_torchvision(cfg: Any) -> Any:
    """torchvision's FasterRCNN with the config's backbone, anchors, samplers and test settings."""
    import torch
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    m, train_cfg, test_cfg = cfg.model, cfg.model.train_cfg, cfg.model.test_cfg
    backbone_cfg, neck = m.backbone, m.neck
    assert backbone_cfg.depth == 18 and backbone_cfg.norm_cfg.type == "BN"
    assert not backbone_cfg.norm_eval and backbone_cfg.frozen_stages == -1
    assert not neck.get("add_extra_convs") and neck.num_outs == 5
    fpn_norm = None
    if neck.get("norm_cfg"):
        assert neck.norm_cfg.type == "BN", "torchvision's FPN takes a norm layer class: BN is mirrored"
        fpn_norm = torch.nn.BatchNorm2d
    resnet = torchvision_resnet18(backbone_cfg.get("base_channels", 64), backbone_cfg.get("zero_init_residual", True))
    backbone = BackboneWithFPN(resnet, {f"layer{i + 1}": str(i) for i in range(4)}, list(neck.in_channels),
                               neck.out_channels, extra_blocks=LastLevelMaxPool(), norm_layer=fpn_norm)

    gen = m.rpn_head.anchor_generator
    sizes = tuple((s * gen.scales[0],) for s in gen.strides)
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(tuple(gen.ratios),) * len(sizes))
    roi = m.roi_head.bbox_roi_extractor.roi_layer
    feat = m.roi_head.bbox_head.roi_feat_size
    pool = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=feat, sampling_ratio=roi.sampling_ratio)
    fc = m.roi_head.bbox_head.fc_out_channels
    num_classes = m.roi_head.bbox_head.num_classes + 1  # torchvision counts the background
    stds = m.roi_head.bbox_head.bbox_coder.target_stds
    rpn_a, rpn_s = train_cfg.rpn.assigner, train_cfg.rpn.sampler
    rcnn_a, rcnn_s = train_cfg.rcnn.assigner, train_cfg.rcnn.sampler
    pipeline_scale = cfg.data.train.pipeline[2]["img_scale"]
    model = FasterRCNN(
        backbone, num_classes=None, min_size=min(pipeline_scale), max_size=max(pipeline_scale),
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],  # = the config's /255
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=train_cfg.rpn_proposal.nms_pre,
        rpn_post_nms_top_n_train=train_cfg.rpn_proposal.max_per_img,
        rpn_pre_nms_top_n_test=test_cfg.rpn.nms_pre, rpn_post_nms_top_n_test=test_cfg.rpn.max_per_img,
        rpn_nms_thresh=test_cfg.rpn.nms.iou_threshold,
        rpn_fg_iou_thresh=rpn_a.pos_iou_thr, rpn_bg_iou_thresh=rpn_a.neg_iou_thr,
        rpn_batch_size_per_image=rpn_s.num, rpn_positive_fraction=rpn_s.pos_fraction,
        box_roi_pool=pool, box_head=TwoMLPHead(neck.out_channels * feat * feat, fc),
        box_predictor=FastRCNNPredictor(fc, num_classes),
        box_score_thresh=test_cfg.rcnn.score_thr, box_nms_thresh=test_cfg.rcnn.nms.iou_threshold,
        box_detections_per_img=test_cfg.rcnn.max_per_img,
        box_fg_iou_thresh=rcnn_a.pos_iou_thr, box_bg_iou_thresh=rcnn_a.neg_iou_thr,
        box_batch_size_per_image=rcnn_s.num, box_positive_fraction=rcnn_s.pos_fraction,
        bbox_reg_weights=tuple(1.0 / s for s in stds),
    )
    mirror_box_head_init(m.roi_head.bbox_head.get("init_cfg"), model.roi_heads)
    return model


# torch.nn.Linear's own weight initialisation, spelled as a detcli init_cfg
LINEAR_DEFAULT_INIT = dict(type="Kaiming", layer="Linear", a=5**0.5, mode="fan_in", nonlinearity="leaky_relu",
                           distribution="uniform")


def mirror_box_head_init(init_cfg: Any, roi_heads: Any) -> None:
    """Start torchvision's box head as the config starts detcli's.

    torchvision keeps torch.nn.Linear's initialisation; a config without ``init_cfg`` gets
    mmdetection 2.x's (Xavier shared fcs, N(0, 0.01) classifier, N(0, 0.001) regressor), which
    changes the mAP reached from scratch by a few points, so it is mirrored too.
    """
    from torch import nn

    if init_cfg is not None:
        if dict(init_cfg) != LINEAR_DEFAULT_INIT:
            raise ValueError(f"vs_torchvision: cannot mirror the box head's init_cfg {init_cfg}; "
                             f"use None (2.x's) or {LINEAR_DEFAULT_INIT}")
        return
    for fc in (roi_heads.box_head.fc6, roi_heads.box_head.fc7):
        nn.init.xavier_uniform_(fc.weight)
        nn.init.zeros_(fc.bias)
    for fc, std in ((roi_heads.box_predictor.cls_score, 0.01), (roi_heads.box_predictor.bbox_pred, 0.001)):
        nn.init.normal_(fc.weight, std=std)
        nn.init.zeros_(fc.bias)


class ShapesForTorchvision:
    """The shapes train split as torchvision detection models take it (RGB 0-1 tensors,
    ``boxes``/``labels`` with 1..K), with the config's horizontal flip."""

    def __init__(self, ann_file: str, img_prefix: str, flip_ratio: float) -> None:
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(ann_file)
        self.ids = sorted(self.coco.getImgIds())
        self.prefix, self.flip_ratio = img_prefix, flip_ratio
        self.cat_ids = sorted(self.coco.getCatIds())

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Any, dict]:
        import cv2
        import torch

        info = self.coco.loadImgs([self.ids[index]])[0]
        img = cv2.imread(os.path.join(self.prefix, info["file_name"]))[:, :, ::-1]
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[info["id"]], iscrowd=False))
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns], np.float32).reshape(-1, 4)
        labels = np.array([self.cat_ids.index(a["category_id"]) + 1 for a in anns], np.int64)
        if torch.rand(()) < self.flip_ratio:
            img = img[:, ::-1]
            boxes = np.stack([img.shape[1] - boxes[:, 2], boxes[:, 1], img.shape[1] - boxes[:, 0], boxes[:, 3]], 1)
        tensor = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255)
        return tensor, dict(boxes=torch.from_numpy(boxes), labels=torch.from_numpy(labels))


def _pairs(batch: list) -> tuple:
    return tuple(zip(*batch))


def train_torchvision(cfg: Any, work_dir: str) -> dict:
    import torch

    torch.manual_seed(cfg.seed)
    model = build_torchvision(cfg)
    flip = next(s for s in cfg.data.train.pipeline if s["type"] == "RandomFlip")["flip_ratio"]
    dataset = ShapesForTorchvision(cfg.data.train.ann_file, cfg.data.train.img_prefix, flip)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.data.samples_per_gpu, shuffle=True, drop_last=False,
                                         num_workers=cfg.data.workers_per_gpu, collate_fn=_pairs,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    opt_cfg = dict(cfg.optimizer)
    assert opt_cfg.pop("type") in ("SGD", "AdamW") and "paramwise_cfg" not in opt_cfg
    optimizer = getattr(torch.optim, cfg.optimizer.type)(model.parameters(), **opt_cfg)
    clip = (cfg.optimizer_config.get("grad_clip") or {}).get("max_norm")
    model.train()
    it = 0
    start = time.perf_counter()
    for epoch in range(cfg.runner.max_epochs):
        for imgs, targets in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, epoch, it)
            losses = model(list(imgs), list(targets))
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            it += 1
    checkpoint = os.path.join(work_dir, "torchvision.pth")
    torch.save(model.state_dict(), checkpoint)
    elapsed = time.perf_counter() - start
    return dict(iters=it, images=it * cfg.data.samples_per_gpu, seconds=elapsed, checkpoint=checkpoint)


def torchvision_runner(cfg: Any, checkpoint: str) -> Any:
    """``run(list of BGR images) -> list of {boxes, scores, labels}`` for the trained torchvision model."""
    import torch

    model = build_torchvision(cfg)
    model.load_state_dict(torch.load(checkpoint, weights_only=True))
    model.eval()

    def run(batch: list[np.ndarray]) -> list[dict]:
        tensors = [torch.from_numpy(np.ascontiguousarray(b[:, :, ::-1])).permute(2, 0, 1).float().div_(255)
                   for b in batch]
        return [{k: v.numpy() for k, v in out.items()} for out in model(tensors)]

    return run


def test_torchvision(cfg: Any, checkpoint: str) -> dict:
    import torch

    run = torchvision_runner(cfg, checkpoint)
    cat_ids = ShapesForTorchvision(cfg.data.test.ann_file, cfg.data.test.img_prefix, 0.0).cat_ids
    ids, imgs = val_images(cfg)
    detections = []
    with torch.inference_mode():
        for img_id, img in zip(ids, imgs):
            out = run([img])[0]
            for box, score, label in zip(out["boxes"], out["scores"], out["labels"]):
                x1, y1, x2, y2 = (float(v) for v in box)
                detections.append(dict(image_id=img_id, category_id=cat_ids[int(label) - 1],
                                       bbox=[x1, y1, x2 - x1, y2 - y1], score=float(score)))
    return dict(bbox_mAP=coco_bbox_map(cfg.data.test.ann_file, detections))


# ---------------------------------------------------------------------------------------------
# detcli's side
# ---------------------------------------------------------------------------------------------
def train_detcli(cfg: Any, work_dir: str) -> dict:
    import logging

    from detcli.apis import set_random_seed, train_detector
    from detcli.data import build_dataset
    from detcli.models import build_detector

    logging.getLogger("detcli").setLevel(logging.WARNING)
    set_random_seed(cfg.seed)
    cfg.work_dir, cfg.device, cfg.gpu_ids = work_dir, "cpu", [0]
    model = build_detector(cfg.model)
    model.init_weights()
    dataset = build_dataset(cfg.data.train)
    model.CLASSES = dataset.CLASSES
    start = time.perf_counter()
    runner = train_detector(model, dataset, cfg, validate=False)
    elapsed = time.perf_counter() - start
    return dict(iters=runner.iter, images=runner.iter * cfg.data.samples_per_gpu, seconds=elapsed,
                checkpoint=os.path.join(work_dir, "latest.pth"))


def detcli_runner(cfg: Any, checkpoint: str, fast: bool = False) -> Any:
    """``run(list of BGR images) -> list of 2.x results`` through detcli's inference API: at its
    defaults (what ``det test``/``det infer`` do without a flag), or with ``fast`` on its opt-in
    fast path (``channels_last = True`` and ``--fuse-conv-bn``)."""
    from detcli.apis import inference_detector, init_detector

    if fast:
        model = init_detector(cfg, checkpoint, device="cpu", cfg_options=dict(channels_last=True), fuse_conv_bn=True)
    else:
        model = init_detector(cfg, checkpoint, device="cpu")
    return lambda batch: inference_detector(model, batch)


def test_detcli(cfg: Any, checkpoint: str) -> dict:
    import torch

    run = detcli_runner(cfg, checkpoint)
    ids, imgs = val_images(cfg)
    with contextlib.redirect_stdout(io.StringIO()):
        from pycocotools.coco import COCO

        cat_ids = sorted(COCO(cfg.data.test.ann_file).getCatIds())
    detections = []
    with torch.inference_mode():
        for img_id, img in zip(ids, imgs):
            for label, boxes in enumerate(run([img])[0]):
                for x1, y1, x2, y2, score in boxes.tolist():
                    detections.append(dict(image_id=img_id, category_id=cat_ids[label],
                                           bbox=[x1, y1, x2 - x1, y2 - y1], score=score))
    return dict(bbox_mAP=coco_bbox_map(cfg.data.test.ann_file, detections))


def inference_speed(cfg: Any, checkpoints: dict[str, str], rounds: int) -> dict:
    """Images/s of both trained models at batch 1 and 8, timed in turns in one process.

    Each round times every model over the whole val split (in one order, then the other way
    round next round), so both see the same machine load; every round's figure is kept.
    """
    runs = {"detcli": detcli_runner(cfg, checkpoints["detcli"]),
            "detcli_fast": detcli_runner(cfg, checkpoints["detcli"], fast=True),
            "torchvision": torchvision_runner(cfg, checkpoints["torchvision"])}
    _, imgs = val_images(cfg)
    out: dict[str, dict] = {name: {} for name in runs}
    for batch in (1, 8):
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(rounds):
            for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                samples[name].append(time_batches(runs[name], imgs, batch))
        for name in runs:
            out[name][f"b{batch}"] = statistics.median(samples[name])
            out[name][f"b{batch}_rounds"] = samples[name]
    return out


def r50_inference(threads: int, runs: int) -> dict:
    """detcli R50-FPN vs fasterrcnn_resnet50_fpn at 800x1216 (random weights), via model_inference.py."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import model_inference as mi

    image = np.random.default_rng(0).integers(0, 256, size=(mi.HEIGHT, mi.WIDTH, 3), dtype=np.uint8)
    detcli_models = {}
    for name, fast in (("detcli", False), ("detcli_fast", True)):
        torch.manual_seed(0)  # the same random weights on both detcli paths
        detcli_models[name] = mi.build_detcli_model(mi.DEFAULT_CONFIG, fast=fast)
    theirs = mi.build_torchvision_model()
    normalised = torch.from_numpy(((image.astype(np.float32) - mi.MEAN) / mi.STD).transpose(2, 0, 1).copy())[None]
    meta = dict(filename="random.png", ori_filename="random.png", ori_shape=(mi.HEIGHT, mi.WIDTH, 3),
                img_shape=(mi.HEIGHT, mi.WIDTH, 3), pad_shape=(mi.HEIGHT, mi.WIDTH, 3),
                scale_factor=np.ones(4, dtype=np.float32), flip=False, flip_direction=None,
                img_norm_cfg=dict(mean=mi.MEAN, std=mi.STD, to_rgb=True))
    as_unit = torch.from_numpy(image.transpose(2, 0, 1).copy()).float() / 255.0
    calls = {name: (lambda m=model: m(return_loss=False, rescale=True, img=[normalised], img_metas=[[dict(meta)]]))
             for name, model in detcli_models.items()}
    calls["torchvision"] = lambda: theirs([as_unit])
    seconds = mi.interleaved_seconds(list(calls.values()), warmup=1, runs=runs)
    return {f"{name}_rounds": [1 / t for t in ts] for name, ts in zip(calls, seconds)}


# ---------------------------------------------------------------------------------------------
# one phase per process; the parent runs them in turn and prints the table
# ---------------------------------------------------------------------------------------------
def run_phase(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    cfg = load_cfg(args)
    cfg.seed = args.seed
    if args.phase == "r50":
        out = r50_inference(args.threads, args.r50_runs)
    elif args.phase == "speed":
        out = inference_speed(cfg, json.loads(args.checkpoint), args.speed_rounds)
    elif args.phase == "train":
        out = (train_detcli if args.impl == "detcli" else train_torchvision)(cfg, args.work_dir)
    else:
        out = (test_detcli if args.impl == "detcli" else test_torchvision)(cfg, args.checkpoint)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _child(args: argparse.Namespace, phase: str, impl: str, **extra: str) -> dict:
    fd, result = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    cmd = [sys.executable, __file__, "--phase", phase, "--impl", impl, "--result", result,
           "--threads", str(args.threads), "--seed", str(args.seed), "--config", str(args.config),
           "--data", str(args.data), "--r50-runs", str(args.r50_runs),
           "--speed-rounds", str(args.speed_rounds)]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", value]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), DETCLI_NO_PROGRESS="1")
    print(f"[{time.strftime('%H:%M:%S')}] {phase} {impl} ...", flush=True)
    subprocess.run(cmd, check=True, env=env)
    out = json.loads(Path(result).read_text())
    os.unlink(result)
    return out


def _ensure_data(root: Path) -> None:
    if (root / "annotations" / "instances_val.json").is_file():
        return
    from detcli.data.synthetic import generate_shapes

    print(f"generating the shapes set in {root} ...", flush=True)
    generate_shapes(root, workers=min(4, os.cpu_count() or 1))


def _train_both(args: argparse.Namespace, ckpt_dir: Path) -> dict:
    """Train and test both models; the trained weights stay in ``ckpt_dir`` for the speed part."""
    import shutil

    res: dict[str, Any] = {}
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for impl in IMPLS:
            work_dir = os.path.join(tmp, impl)
            os.makedirs(work_dir)
            res[impl] = {"train": _child(args, "train", impl, work_dir=work_dir)}
            shutil.copyfile(res[impl]["train"]["checkpoint"], ckpt_dir / f"{impl}.pth")
            res[impl]["train"]["checkpoint"] = str(ckpt_dir / f"{impl}.pth")
    for impl in IMPLS:
        res[impl]["test"] = _child(args, "test", impl, checkpoint=res[impl]["train"]["checkpoint"])
    (ckpt_dir / "train.json").write_text(json.dumps(res, indent=1))
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--data", type=Path, default=DATA, help="the shapes set (generated when missing)")
    parser.add_argument("--epochs", type=int, default=0, help="train this many epochs (0: the config's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--r50-runs", type=int, default=5)
    parser.add_argument("--speed-rounds", type=int, default=3, help="timing rounds per model and batch size")
    parser.add_argument("--parts", default="train,speed,r50",
                        help="train: train + mAP of both; speed: images/s of the trained models; r50: R50-FPN")
    parser.add_argument("--checkpoint-dir", type=Path, default=ROOT / "outputs" / "bench" / "vs_torchvision",
                        help="where the trained models are kept between parts")
    parser.add_argument("--out-name", default="vs_torchvision")
    parser.add_argument("--phase", choices=("train", "test", "speed", "r50"), help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        Path(args.result).write_text(json.dumps(run_phase(args)))
        return

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ratio_table import Comparison, Report, finish, machine_facts

    _ensure_data(args.data)
    cfg = load_cfg(args)
    parts = args.parts.split(",")
    report = Report(f"detcli vs torchvision, Faster R-CNN R18-FPN on shapes ({os.path.relpath(args.config, ROOT)})",
                    meta=machine_facts(threads=args.threads))
    ckpts = {impl: args.checkpoint_dir / f"{impl}.pth" for impl in IMPLS}
    trained = None
    if "train" in parts:
        trained = _train_both(args, args.checkpoint_dir)
    elif "speed" in parts and not all(p.is_file() for p in ckpts.values()):
        print(f"no trained models in {args.checkpoint_dir}: training both first (--epochs {args.epochs or 'all'})")
        trained = _train_both(args, args.checkpoint_dir)
    if trained:
        d, t = trained["detcli"], trained["torchvision"]
        report.meta.update(iters=d["train"]["iters"], batch=cfg.data.samples_per_gpu, epochs=cfg.runner.max_epochs)
        report.checks["bbox mAP (val) detcli | torchvision"] = f"{d['test']['bbox_mAP']:.3f} | {t['test']['bbox_mAP']:.3f}"
        report.rows.append(Comparison("training images/s", [d["train"]["images"] / d["train"]["seconds"]],
                                      [t["train"]["images"] / t["train"]["seconds"]], unit="img/s",
                                      higher_is_better=True, peer="torchvision"))
        report.rows.append(Comparison("peak RSS training", [d["train"]["peak_rss_mb"]], [t["train"]["peak_rss_mb"]],
                                      unit="MB", peer="torchvision"))
    if "speed" in parts:
        speeds = _child(args, "speed", "detcli", checkpoint=json.dumps({k: str(v) for k, v in ckpts.items()}))
        for b in (1, 8):
            report.rows.append(Comparison(f"inference, batch {b} (R18-FPN 320x320, decoded image to results)",
                                          speeds["detcli"][f"b{b}_rounds"], speeds["torchvision"][f"b{b}_rounds"],
                                          unit="img/s", higher_is_better=True, peer="torchvision", goal=1.3))
            report.rows.append(Comparison(f"... opt-in fast path (channels_last, --fuse-conv-bn), batch {b}",
                                          speeds["detcli_fast"][f"b{b}_rounds"],
                                          speeds["torchvision"][f"b{b}_rounds"], unit="img/s",
                                          higher_is_better=True, peer="torchvision"))
    if "r50" in parts:
        r50 = _child(args, "r50", "detcli")
        report.rows.append(Comparison("inference R50-FPN 800x1216, batch 1 (random weights)", r50["detcli_rounds"],
                                      r50["torchvision_rounds"], unit="img/s", higher_is_better=True,
                                      peer="torchvision", goal=1.3))
        report.rows.append(Comparison("... opt-in fast path (channels_last, --fuse-conv-bn)", r50["detcli_fast_rounds"],
                                      r50["torchvision_rounds"], unit="img/s", higher_is_better=True,
                                      peer="torchvision"))
    finish(report, args.out_name)


if __name__ == "__main__":
    main()
