"""A real tiny ``det train`` run shared by the tools tests: its logs, config and checkpoints.

A Faster R-CNN with 8-channel ResNet-18 on 4 generated 64 px images, 3 epochs of 2
iterations, evaluated every epoch and with a ``('val', 1)`` workflow (val losses logged).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import tiny_configs

TINY_FASTER_RCNN = tiny_configs.FASTER_RCNN + """
optimizer = dict(lr=0.02)
lr_config = dict(warmup_iters=2, step=[100])
runner = dict(max_epochs=3)
log_config = dict(interval=1)
evaluation = dict(interval=1, metric='bbox')
workflow = [('train', 1), ('val', 1)]
"""


@dataclass
class TinyRun:
    config: Path
    work_dir: Path
    data: Path

    @property
    def json_log(self) -> Path:
        (path,) = self.work_dir.glob("*.log.json")
        return path

    @property
    def text_log(self) -> Path:
        return self.json_log.with_name(self.json_log.name[: -len(".json")])


@pytest.fixture(scope="session")
def tiny_run(shapes, tmp_path_factory) -> TinyRun:
    from detcli.cli import main

    os.environ.setdefault("DETCLI_NO_PROGRESS", "1")
    root = tmp_path_factory.mktemp("tiny_run")
    config = root / "tiny_faster_rcnn.py"
    config.write_text(tiny_configs.tiny_config(TINY_FASTER_RCNN, shapes))
    work = root / "work"
    assert main(["train", str(config), "--work-dir", str(work), "--device", "cpu", "--seed", "0"]) == 0
    return TinyRun(config, work, shapes)


@dataclass
class TinyResults:
    """``det test --out`` of the tiny run's model on its 2 validation images."""

    pkl: Path


@pytest.fixture(scope="session")
def tiny_results(tiny_run, tmp_path_factory) -> TinyResults:
    from detcli.cli import main

    out = tmp_path_factory.mktemp("tiny_results") / "results.pkl"
    ckpt = str(tiny_run.work_dir / "latest.pth")
    assert main(["test", str(tiny_run.config), ckpt, "--out", str(out), "--device", "cpu"]) == 0
    return TinyResults(out)
