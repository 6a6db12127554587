"""Helpers of the examples' tests: train / det / read logs, as a user's command would."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CLASSES = ("circle", "square", "triangle", "star")
# one epoch of the 4 training images, 2 a batch, every iteration logged, no loader processes
FAST = {"runner.max_epochs": 1, "data.workers_per_gpu": 0, "data.samples_per_gpu": 2, "log_config.interval": 1}
FAST_CLI = [f"{k}={v}" for k, v in FAST.items()]

os.environ.setdefault("DETCLI_NO_PROGRESS", "1")


def train(config: Path, work_dir: Path, **options):
    """``det train CONFIG --work-dir W --device cpu --seed 0 --cfg-options FAST + options``; the runner."""
    from detcli.apis.train import TrainArgs, train_from_config

    args = TrainArgs(config=str(config), work_dir=str(work_dir), device="cpu", seed=0,
                     cfg_options={**FAST, **options})
    return train_from_config(args)


def det(*args: str) -> int:
    """The ``det`` command line, in this process."""
    from detcli.cli import main

    return main([str(a) for a in args])


def json_log(work_dir: Path) -> list[dict]:
    (path,) = Path(work_dir).glob("*.log.json")
    return [json.loads(line) for line in path.read_text().splitlines()][1:]  # after the run's meta line


def text_log(work_dir: Path) -> str:
    (path,) = Path(work_dir).glob("*.log")
    return path.read_text()


def coco_annotations(workspace: Path, split: str = "train") -> dict:
    return json.loads((workspace / "data/shapes/annotations" / f"instances_{split}.json").read_text())


