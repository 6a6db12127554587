"""Training, detcli next to mmdetection 2.28 on the shapes Mask R-CNN R18-FPN: losses from the same start, then speed.

``losses``: both systems start from the same weights (detcli initialises the model and
saves it; mmdetection loads the file, same keys) and see the same 50 batches (the first
200 train images in order, flip off so that both pipelines give the same tensors); before
each iteration both seed torch alike, so the RPN/RoI samplers draw the same indices; both
step a plain ``torch.optim.AdamW`` with the config's lr, warmup and gradient clipping. The
per-iteration losses are written and plotted side by side.

``speed``: each system trains with its own ``train_detector`` (its runner, hooks, loader
with the config's worker, one torch thread) for ``--iters`` iterations; seconds per
iteration come from its own log.json (the first logging interval left out), peak RSS is
that of the whole process tree (sampled from /proc). Rounds alternate the order.

``map``: each system trains the whole config (its schedule, its own ``train_detector`` and
seed) and then tests the checkpoint it wrote the way its users do (``init_detector``, its
``single_gpu_test``, the dataset's ``evaluate``): final bbox/segm mAP on the val split, one
run per seed (``--seeds``), the two systems side by side, one torch thread each.

mmdetection runs with mmcv 1.7.2's own C++ CPU kernels for nms and RoIAlign, built from
mmcv's sources by ``mmdet_env.build_core_ops`` (a few minutes, once).

    .venv/bin/python benchmarks/train_vs_mmdet.py [--parts losses,speed,map] [--iters 60] [--repeats 2] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "configs" / "shapes" / "mask_rcnn_r18_fpn_shapes.py"


# ---------------------------------------------------------------------------------------------
# inside each side's interpreter
# ---------------------------------------------------------------------------------------------
def _side_imports(impl: str):
    if impl == "mmdet":
        sys.path.insert(0, str(HERE))
        import mmdet_env

        mmdet_env.install_core_ops(mmdet_env.build_core_ops(sys.executable))
        from mmcv import Config
        from mmdet.datasets import build_dataset
        from mmdet.models import build_detector
        return Config, build_dataset, build_detector
    from detcli.config import Config
    from detcli.data import build_dataset
    from detcli.models import build_detector
    return Config, build_dataset, build_detector


def _cfg(Config, data: Path, args: argparse.Namespace):
    cfg = Config.fromfile(str(args.config))
    for split in ("train", "val", "test"):
        name = "train" if split == "train" else "val"
        cfg.data[split].ann_file = str(data / "annotations" / f"instances_{name}.json")
        cfg.data[split].img_prefix = str(data / name) + "/"
    cfg.seed = args.seed
    return cfg


def side_losses(impl: str, args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    Config, build_dataset, build_detector = _side_imports(impl)
    cfg = _cfg(Config, args.data, args)
    flip = next(s for s in cfg.data.train.pipeline if s["type"] == "RandomFlip")
    flip["flip_ratio"] = 0.0
    dataset = build_dataset(cfg.data.train)
    model = build_detector(cfg.model)
    if impl == "detcli":
        torch.manual_seed(args.seed)
        model.init_weights()
        torch.save({"state_dict": model.state_dict()}, args.init)
        from detcli.data import collate
        from detcli.engine.memory_format import apply_memory_format

        model = apply_memory_format(model, cfg, "cpu")

        def batch_of(samples):
            return collate(samples)
    else:
        from mmcv.parallel import collate, scatter
        from mmcv.runner import load_checkpoint

        load_checkpoint(model, str(args.init), map_location="cpu", strict=True)

        def batch_of(samples):
            return scatter(collate(samples, samples_per_gpu=len(samples)), [-1])[0]
    model.train()
    opt_cfg = dict(cfg.optimizer)
    opt_cfg.pop("type")
    optimizer = torch.optim.AdamW(model.parameters(), **opt_cfg)
    lr_cfg, base_lr = cfg.lr_config, cfg.optimizer.lr
    clip = cfg.optimizer_config.grad_clip.max_norm
    batch = cfg.data.samples_per_gpu
    out = []
    for it in range(args.loss_iters):
        samples = [dataset[(it * batch + k) % len(dataset)] for k in range(batch)]
        data = batch_of(samples)
        k = (1 - it / lr_cfg.warmup_iters) * (1 - lr_cfg.warmup_ratio) if it < lr_cfg.warmup_iters else 0.0
        for group in optimizer.param_groups:
            group["lr"] = base_lr * (1 - k)
        torch.manual_seed(1000 + it)
        np.random.seed(1000 + it)
        losses = model.train_step(data, None)
        optimizer.zero_grad()
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
        optimizer.step()
        out.append({k: float(v) for k, v in losses["log_vars"].items()})
    return dict(losses=out)


def _train_from_scratch(impl: str, cfg, build_detector, build_dataset, seed: int) -> float:
    """Seed, build and initialise the model, train it with the system's own ``train_detector``;
    returns the seconds ``train_detector`` took."""
    import logging

    if impl == "mmdet":
        from mmdet.apis import set_random_seed, train_detector
    else:
        from detcli.apis import set_random_seed, train_detector
    set_random_seed(seed)
    model = build_detector(cfg.model)
    model.init_weights()
    dataset = build_dataset(cfg.data.train)
    model.CLASSES = dataset.CLASSES
    logging.disable(logging.INFO)
    start = time.perf_counter()
    train_detector(model, dataset, cfg, distributed=False, validate=False)
    return time.perf_counter() - start


def side_speed(impl: str, args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    Config, build_dataset, build_detector = _side_imports(impl)
    cfg = _cfg(Config, args.data, args)
    work_dir = tempfile.mkdtemp(prefix=f"train-{impl}-")
    cfg.work_dir, cfg.gpu_ids, cfg.device = work_dir, [0], "cpu"
    cfg.runner = dict(type="IterBasedRunner", max_iters=args.iters)
    cfg.workflow = [("train", 1)]
    cfg.checkpoint_config = dict(interval=10 ** 9)
    cfg.log_config = dict(interval=args.log_interval, hooks=[dict(type="TextLoggerHook")])
    cfg.custom_hooks = []
    cfg.lr_config.step = [10 ** 9]
    wall = _train_from_scratch(impl, cfg, build_detector, build_dataset, args.seed)
    logs = []
    for f in Path(work_dir).glob("*.log.json"):
        logs += [json.loads(line) for line in f.read_text().splitlines() if '"mode": "train"' in line]
    shutil.rmtree(work_dir, ignore_errors=True)
    steady = logs[1:] or logs
    it_s = sum(x["time"] for x in steady) / len(steady)
    data_s = sum(x["data_time"] for x in steady) / len(steady)
    return dict(s_per_iter=it_s, data_time=data_s, wall_s=wall, images_per_s=cfg.data.samples_per_gpu / it_s,
                log_lines=len(logs), last_loss=logs[-1].get("loss") if logs else None)


def side_map(impl: str, args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    Config, build_dataset, build_detector = _side_imports(impl)
    cfg = _cfg(Config, args.data, args)
    cfg.work_dir = tempfile.mkdtemp(prefix=f"map-{impl}-seed{args.seed}-")
    cfg.gpu_ids, cfg.device = [0], "cpu"
    if impl == "mmdet":
        from mmdet.apis import init_detector, single_gpu_test
        from mmdet.datasets import build_dataloader
        from mmdet.utils import build_dp

        def test(model, loader):
            return single_gpu_test(build_dp(model, "cpu", device_ids=[0]), loader)
    else:
        from detcli.apis import init_detector, single_gpu_test
        from detcli.data import build_dataloader

        test = single_gpu_test
    train_s = _train_from_scratch(impl, cfg, build_detector, build_dataset, args.seed)
    model = init_detector(cfg, str(Path(cfg.work_dir) / "latest.pth"), device="cpu")
    test_set = build_dataset(cfg.data.test, dict(test_mode=True))
    loader = build_dataloader(test_set, samples_per_gpu=1, workers_per_gpu=1, dist=False, shuffle=False)
    metrics = test_set.evaluate(test(model, loader), metric=["bbox", "segm"])
    shutil.rmtree(cfg.work_dir, ignore_errors=True)  # five checkpoints per run and seed
    return dict(seed=args.seed, bbox_mAP=float(metrics["bbox_mAP"]), segm_mAP=float(metrics["segm_mAP"]),
                train_s=train_s)


SIDES = {"losses": side_losses, "speed": side_speed, "map": side_map}


# ---------------------------------------------------------------------------------------------
# the parent
# ---------------------------------------------------------------------------------------------
def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            parents[int(d.name)] = int(fields[1])
            rss[int(d.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(p, 0) for p in tree) / 2 ** 20


def run_side(python: str, impl: str, phase: str, args: argparse.Namespace) -> dict:
    fd, result = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    cmd = [python, __file__, "--side", impl, "--phase", phase, "--result", result, "--data", str(args.data),
           "--config", str(args.config), "--seed", str(args.seed), "--iters", str(args.iters),
           "--log-interval", str(args.log_interval), "--loss-iters", str(args.loss_iters), "--init", str(args.init)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) if impl == "detcli" else "",
               DETCLI_NO_PROGRESS="1")
    proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT))
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    done.set()
    sampler.join()
    if rc:
        raise SystemExit(f"{impl} {phase} failed (exit {rc})")
    out = json.loads(Path(result).read_text())
    os.unlink(result)
    out["peak_rss_tree_mb"] = peak[0]
    return out


def plot_losses(ours: list[dict], theirs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ours[0] if k in theirs[0] and k.startswith("loss")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot([x[key] for x in ours], label="detcli")
        ax.plot([x[key] for x in theirs], "--", label="mmdet 2.28")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("iteration")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "shapes")
    parser.add_argument("--parts", default="losses,speed")
    parser.add_argument("--iters", type=int, default=60, help="training iterations timed per side and round")
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--loss-iters", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mmdet-python")
    parser.add_argument("--out-name", default="train_vs_mmdet")
    parser.add_argument("--side", choices=("detcli", "mmdet"), help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default="0,1,2", help="the map part: one full training per seed and system")
    parser.add_argument("--phase", choices=tuple(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--init", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        Path(args.result).write_text(json.dumps(SIDES[args.phase](args.side, args)))
        return

    sys.path.insert(0, str(HERE))
    import mmdet_env
    from ratio_table import OUT_DIR, Comparison, Report, finish, machine_facts

    if not (args.data / "annotations" / "instances_train.json").is_file():
        from detcli.data.synthetic import generate_shapes

        generate_shapes(args.data, num_train=1200, workers=min(4, os.cpu_count() or 1))  # as `make demo`
    python = mmdet_env.find_mmdet_python(args.mmdet_python) or mmdet_env.build_mmdet_venv()
    print("building mmcv's nms/roi_align CPU kernels for mmdet (once) ...", flush=True)
    mmdet_env.build_core_ops(python)
    init_dir = None if args.init else Path(tempfile.mkdtemp(prefix="train-init-"))
    args.init = args.init or init_dir / "init.pth"
    parts = args.parts.split(",")
    report = Report(f"Training Mask R-CNN R18-FPN on shapes, one thread each: detcli vs mmdet 2.28 "
                    f"({os.path.relpath(args.config, ROOT)})", meta=machine_facts(threads=1))
    report.meta.update(mmdet_python=python, iters=args.iters, repeats=args.repeats)
    if "losses" in parts:
        ours = run_side(sys.executable, "detcli", "losses", args)["losses"]  # writes the initial weights
        theirs = run_side(python, "mmdet", "losses", args)["losses"]
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / f"{args.out_name}_losses.json").write_text(json.dumps(dict(detcli=ours, mmdet=theirs), indent=1))
        plot_losses(ours, theirs, OUT_DIR / f"{args.out_name}_losses.png")
        for key in ("loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask"):
            if key in ours[0] and key in theirs[0]:
                diffs = [abs(a[key] - b[key]) / max(abs(b[key]), 1e-8) for a, b in zip(ours, theirs)]
                report.checks[f"{key}: relative difference it 0 / max over first 10 / max over all"] = (
                    f"{diffs[0]:.2e} / {max(diffs[:10]):.2e} / {max(diffs):.2e}")
        report.checks["loss at iteration 0 / last (detcli | mmdet)"] = (
            f"{ours[0]['loss']:.5f} / {ours[-1]['loss']:.5f} | {theirs[0]['loss']:.5f} / {theirs[-1]['loss']:.5f}")
    if "speed" in parts:
        runs: dict[str, list[dict]] = {"detcli": [], "mmdet": []}
        for r in range(args.repeats):
            for impl in (("detcli", "mmdet") if r % 2 == 0 else ("mmdet", "detcli")):
                runs[impl].append(run_side(sys.executable if impl == "detcli" else python, impl, "speed", args))
                print(f"round {r + 1} {impl}: {runs[impl][-1]}", flush=True)
        report.rows.append(Comparison("seconds per iteration (batch 4)", [x["s_per_iter"] for x in runs["detcli"]],
                                      [x["s_per_iter"] for x in runs["mmdet"]], peer="mmdet 2.28", goal=1.5))
        report.rows.append(Comparison("peak RSS of the process tree", [x["peak_rss_tree_mb"] for x in runs["detcli"]],
                                      [x["peak_rss_tree_mb"] for x in runs["mmdet"]], unit="MB", peer="mmdet 2.28",
                                      goal=1.0))
        for impl, rs in runs.items():
            report.checks[f"{impl} data_time share"] = [round(x["data_time"] / x["s_per_iter"], 4) for x in rs]
            report.checks[f"{impl} images/s"] = [round(x["images_per_s"], 3) for x in rs]
    if "map" in parts:
        rows = final_maps(python, args)
        report.checks["map"] = rows
        for key in ("bbox_mAP", "segm_mAP"):
            report.rows.append(Comparison(f"final {key} after the whole schedule, seeds {args.seeds}",
                                          [r[f"detcli_{key}"] for r in rows], [r[f"mmdet_{key}"] for r in rows],
                                          unit="mAP", higher_is_better=True, peer="mmdet 2.28"))
    if init_dir:
        shutil.rmtree(init_dir, ignore_errors=True)
    finish(report, args.out_name)


def final_maps(python: str, args: argparse.Namespace) -> list[dict]:
    """Both systems train the whole schedule at once (one thread each), seed after seed."""
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        seeded = argparse.Namespace(**{**vars(args), "seed": seed})
        sides = (("detcli", sys.executable), ("mmdet", python))
        with ThreadPoolExecutor(len(sides)) as pool:  # each side is its own process: the threads only wait
            futures = {impl: pool.submit(run_side, py, impl, "map", seeded) for impl, py in sides}
        results = {impl: f.result() for impl, f in futures.items()}
        rows.append(dict(seed=seed, **{f"{impl}_{key}": results[impl][key] for impl in results
                                       for key in ("bbox_mAP", "segm_mAP", "train_s", "peak_rss_tree_mb")}))
        print(f"seed {seed}: {rows[-1]}", flush=True)
    for impl in ("detcli", "mmdet"):
        for key in ("bbox_mAP", "segm_mAP"):
            values = [r[f"{impl}_{key}"] for r in rows]
            print(f"{impl} {key}: {', '.join(f'{v:.3f}' for v in values)} (mean {sum(values) / len(values):.3f}, "
                  f"range {min(values):.3f}-{max(values):.3f})")
    return rows


if __name__ == "__main__":
    main()
