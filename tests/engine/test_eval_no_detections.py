"""Validation that detects nothing: one "no detections" line in the log, not an empty Epoch(val) line."""

from __future__ import annotations

import json
import os

import numpy as np
from engine_toys import ToyDataset, loader, make_runner

from detcli.engine import EvalHook


class NothingFound(ToyDataset):
    """Evaluates like COCO does on empty results: no metrics."""

    def evaluate(self, results, logger=None, **kwargs):
        return {}


def detect_nothing(model, data_loader, **kwargs):
    return [[np.zeros((0, 5), np.float32) for _ in range(2)] for _ in range(len(data_loader.dataset))]


def test_an_epoch_without_detections_logs_one_line_that_says_so(tmp_path, caplog):
    runner = make_runner(str(tmp_path), max_epochs=2)
    runner.register_training_hooks(lr_config=None, optimizer_config=dict(grad_clip=None),
                                   log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook")]))
    val = loader(NothingFound(n=4, seed=3), batch_size=2)
    runner.register_hook(EvalHook(val, interval=1, save_best="auto", test_fn=detect_nothing), priority="LOW")
    with caplog.at_level("INFO", logger="detcli"):
        runner.run([loader(ToyDataset(n=8))], [("train", 1)])
    said = [r.getMessage() for r in caplog.records if "(val)" in r.getMessage()]
    assert said == [f"Epoch(val) [{e}]\tno detections on the 4 validation images, no metrics; save_best skipped"
                    for e in (1, 2)]
    (log_json,) = [f for f in os.listdir(tmp_path) if f.endswith(".log.json")]
    lines = [json.loads(line) for line in (tmp_path / log_json).read_text().splitlines()]
    assert not [d for d in lines if d.get("mode") == "val"]  # no metric-less val records
    assert not [f for f in os.listdir(tmp_path) if f.startswith("best_")]
