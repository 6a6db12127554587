"""One ResNet-50 stage with plain, deformable (DCN) and modulated deformable (DCNv2) 3x3 convolutions.

What is timed: ``layer3`` of a ResNet-50 (six bottlenecks, 256-wide 3x3 convs, 1024 outputs) as the
``dcn/`` and ``dcnv2/`` configs build it (``stage_with_dcn=(False, True, True, True)``), on the
stride-8 feature map of an 800x1216 image (512 x 100 x 152). Inference is the forward pass under
``torch.no_grad``; training is forward + backward of a sum of the outputs. Weights are random and
the offsets non-zero (``conv_offset`` perturbed), so every sample really moves. The three variants
are timed in turns (plain, DCN, DCNv2, plain, ...), medians of ``--runs`` after ``--warmup``.

    .venv/bin/python benchmarks/dcn_resnet_stage.py --threads 2 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from detcli.models.backbones.res_layer import ResLayer
from detcli.models.backbones.resnet import Bottleneck

VARIANTS = {
    "plain": None,
    "DCN": dict(type="DCN", deform_groups=1, fallback_on_stride=False),
    "DCNv2": dict(type="DCNv2", deform_groups=1, fallback_on_stride=False),
}


def build_stage(dcn: dict | None, channels_last: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    stage = ResLayer(Bottleneck, inplanes=512, planes=256, num_blocks=6, stride=2, dcn=dcn)
    with torch.no_grad():
        for name, param in stage.named_parameters():
            if "conv_offset" in name:  # offsets of about a pixel, masks around 0.5 +- 0.2
                param.normal_(0, 0.02)
    stage = stage.eval()
    return stage.to(memory_format=torch.channels_last) if channels_last else stage


def time_once(stage: torch.nn.Module, x: torch.Tensor, train: bool) -> float:
    start = time.perf_counter()
    if train:
        stage(x).sum().backward()
    else:
        with torch.no_grad():
            stage(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--height", type=int, default=100)
    parser.add_argument("--width", type=int, default=152)
    parser.add_argument("--nchw", action="store_true", help="contiguous NCHW instead of channels-last inputs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    memory = torch.contiguous_format if args.nchw else torch.channels_last
    x = torch.randn(1, 512, args.height, args.width).to(memory_format=memory)
    stages = {name: build_stage(dcn, not args.nchw) for name, dcn in VARIANTS.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {tuple(x.shape)}, "
          f"{'NCHW' if args.nchw else 'channels-last'}, median of {args.runs} after {args.warmup} warm-up")
    for mode in ("inference", "training"):
        train = mode == "training"
        times: dict[str, list[float]] = {name: [] for name in stages}
        inputs = x.clone().requires_grad_(train)
        for _ in range(args.warmup):
            for stage in stages.values():
                time_once(stage, inputs, train)
        for _ in range(args.runs):
            for name, stage in stages.items():
                times[name].append(time_once(stage, inputs, train))
        plain = statistics.median(times["plain"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{mode:9s} {name:6s} {median * 1000:8.1f} ms  x{median / plain:.2f} of plain")


if __name__ == "__main__":
    main()
