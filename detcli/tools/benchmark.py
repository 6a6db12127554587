"""What ``det benchmark CONFIG CHECKPOINT`` does: inference speed on the test set (mmdetection's
``tools/analysis_tools/benchmark.py``).

The model and the test images are set up exactly as ``det test`` sets them up; then one
image at a time (batch 1, data loading in this process, as mmdetection does to keep the
figure steady) goes through the model, and only the forward pass (inputs moved to the
device included) is timed. The first ``num_warmup`` images are left out of the figure.
A test set smaller than ``max_iter`` is gone through again until ``max_iter`` images ran.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from detcli.errors import ConfigError


@dataclass
class SpeedRun:
    """One measurement: ``timed_images`` images after the warm-up took ``seconds`` in the model."""

    fps: float
    timed_images: int
    seconds: float
    checkpoints: list[tuple[int, float]] = field(default_factory=list)  # (images done, fps so far) per log line

    @property
    def ms_per_image(self) -> float:
        return 1000.0 / self.fps


@dataclass
class BenchmarkResult:
    config: str
    checkpoint: str
    device: str
    max_iter: int
    num_warmup: int
    fuse_conv_bn: bool
    dataset_size: int
    runs: list[SpeedRun]

    @property
    def fps(self) -> float:
        return sum(r.fps for r in self.runs) / len(self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "checkpoint": self.checkpoint, "device": self.device, "max_iter": self.max_iter,
            "num_warmup": self.num_warmup, "fuse_conv_bn": self.fuse_conv_bn, "dataset_size": self.dataset_size,
            "fps": self.fps, "ms_per_image": 1000.0 / self.fps,
            "runs": [{"fps": r.fps, "ms_per_image": r.ms_per_image, "timed_images": r.timed_images,
                      "seconds": r.seconds, "log": [{"images": n, "fps": f} for n, f in r.checkpoints]}
                     for r in self.runs],
        }


def _endless(data_loader: Any) -> Iterator[Any]:
    while True:
        yield from data_loader


def measure_speed(model: Any, data_loader: Any, device: str, max_iter: int, num_warmup: int, log_interval: int,
                  report: Callable[[str], None] | None = None) -> SpeedRun:
    """Time ``max_iter`` single-image forward passes; the first ``num_warmup`` do not count."""
    import torch

    from detcli.data import to_device

    cuda = device.startswith("cuda")
    pure_time = 0.0
    run = SpeedRun(fps=0.0, timed_images=0, seconds=0.0)
    for i, batch in enumerate(_endless(data_loader)):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.no_grad():
            model(return_loss=False, rescale=True, **to_device(batch, device))
        if cuda:
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        done = i + 1
        if i >= num_warmup:
            pure_time += elapsed
            run.timed_images += 1
            if done % log_interval == 0:
                fps = run.timed_images / pure_time
                run.checkpoints.append((done, fps))
                if report:
                    report(f"Done image [{done:<3}/ {max_iter}], fps: {fps:.1f} img / s, "
                           f"times per image: {1000 / fps:.1f} ms / img")
        if done == max_iter:
            break
    run.seconds = pure_time
    run.fps = run.timed_images / pure_time if pure_time > 0 else float("inf")
    if report:
        report(f"Overall fps: {run.fps:.1f} img / s, times per image: {run.ms_per_image:.1f} ms / img")
    return run


def run_benchmark(config: str, checkpoint: str, max_iter: int = 2000, log_interval: int = 50,
                  fuse_conv_bn: bool | None = None, num_warmup: int = 5, device: str | None = None,
                  cfg_options: dict[str, Any] | None = None, repeat_num: int = 1,
                  report: Callable[[str], None] | None = print) -> BenchmarkResult:
    """``det benchmark``: build the test set and model as ``det test`` does, then measure."""
    if num_warmup < 0 or max_iter <= num_warmup:
        raise ConfigError(f"--max-iter ({max_iter}) must be larger than --num-warmup ({num_warmup})",
                          hint="the images after the warm-up are the ones timed")
    if log_interval < 1 or repeat_num < 1:
        raise ConfigError("--log-interval and --repeat-num must be at least 1")
    import torch

    from detcli.data import build_dataset
    from detcli.tools.test_runner import (
        TestOptions,
        build_model,
        build_test_loader,
        check_not_empty,
        pick_device,
        prepare_config,
    )

    opts = TestOptions(config=config, checkpoint=checkpoint, cfg_options=dict(cfg_options or {}),
                       fuse_conv_bn=fuse_conv_bn, device=device)
    cfg = prepare_config(opts)
    device = pick_device(opts)
    if cfg.get("cudnn_benchmark", False) and device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    dataset = build_dataset(cfg.data.test)
    check_not_empty(dataset, "data.test")
    data_loader = build_test_loader(cfg, dataset, samples_per_gpu=1, workers_per_gpu=0)
    model = build_model(cfg, opts, dataset, device)
    if len(dataset) < max_iter and report:
        print(f"note: the test set has {len(dataset)} images; they are run again until {max_iter} images ran",
              file=sys.stderr)
    runs = [measure_speed(model, data_loader, device, max_iter, num_warmup, log_interval, report)
            for _ in range(repeat_num)]
    from detcli.engine.inference_setup import wants_fused_conv_bn

    result = BenchmarkResult(config, checkpoint, device, max_iter, num_warmup, wants_fused_conv_bn(cfg, fuse_conv_bn),
                             len(dataset), runs)
    if repeat_num > 1 and report:
        fps_list = [round(r.fps, 1) for r in runs]
        ms_list = [round(r.ms_per_image, 1) for r in runs]
        report(f"Overall fps: {fps_list}[{sum(fps_list) / len(fps_list):.1f}] img / s, "
               f"times per image: {ms_list}[{sum(ms_list) / len(ms_list):.1f}] ms / img")
    return result
