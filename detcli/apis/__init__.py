"""The Python API: build detectors and run them (``init_detector``, ``inference_detector``, test loops)."""

from detcli.apis.concurrency import concurrent
from detcli.apis.inference import (
    async_inference_detector,
    inference_detector,
    init_detector,
    show_result_pyplot,
)
from detcli.apis.test import multi_gpu_test, single_gpu_test
from detcli.apis.train import auto_scale_lr, init_random_seed, set_random_seed, train_detector  # noqa: F401
from detcli.apis.video import VideoReader, VideoWriter

__all__ = [
    "init_detector", "inference_detector", "async_inference_detector", "show_result_pyplot", "concurrent",
    "single_gpu_test", "multi_gpu_test", "VideoReader", "VideoWriter",
]
