"""The high-level inference API: build a detector from a config (+ checkpoint), run it on images."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detcli.errors import ConfigError, DetError

logger = logging.getLogger("detcli")

ImageInput = str | os.PathLike | np.ndarray


class DeviceError(DetError, RuntimeError):
    """A device that is not available here (e.g. ``cuda:0`` on a machine without CUDA)."""


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or one clear error when it cannot be used here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise DeviceError(f"unknown device {device!r}", hint="use cpu, cuda or cuda:N") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} was asked for, but CUDA is not available on this machine",
                              hint="run on the CPU: --device cpu (or device='cpu')")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here",
                              hint=f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}")
    return dev


def _load_config(config: Any, cfg_options: dict | None) -> Any:
    from detcli.config import Config

    if isinstance(config, (str, os.PathLike)):
        config = Config.fromfile(config)
    elif not isinstance(config, Config):
        raise TypeError(f"config must be a file name or a Config, got {type(config).__name__}")
    else:
        config = copy.deepcopy(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    return config


def _fallback_class_names(cfg: Any) -> list[str] | None:
    """Class names when the checkpoint has none: the test set's ``classes``, its dataset type's, or COCO's."""
    from detcli.evaluation.class_names import get_classes

    test = cfg.get("data", {}).get("test", {}) if hasattr(cfg, "get") else {}
    classes = test.get("classes") if isinstance(test, dict) else None
    if isinstance(classes, str) and os.path.isfile(classes):
        return [line.strip() for line in Path(classes).read_text().splitlines() if line.strip()]
    if classes:
        return list(classes)
    if isinstance(test, dict) and test.get("type"):
        from detcli.registry import DATASETS

        dataset_cls = DATASETS.get(test["type"])
        if dataset_cls is not None and getattr(dataset_cls, "CLASSES", None):
            return list(dataset_cls.CLASSES)
    return get_classes("coco")


def init_detector(config: str | os.PathLike | Any, checkpoint: str | None = None, device: str = "cuda:0",
                  cfg_options: dict | None = None, fuse_conv_bn: bool | None = None) -> torch.nn.Module:
    """A detector in eval mode on ``device``, built from ``config`` with ``checkpoint``'s weights.

    Backbone pre-training (``pretrained``/``init_cfg``) is switched off: the checkpoint
    provides the weights, and nothing is downloaded. Class names come from the
    checkpoint's meta; without them, from the config's test set (or COCO).
    ``model.cfg`` keeps the config (the test pipeline is read from it). BatchNorms are
    folded into the convolutions when ``fuse_conv_bn`` says so (None: the config's ``fuse_conv_bn``,
    default False; see ``detcli.engine.inference_setup``).
    """
    from detcli.engine.inference_setup import prepare_for_inference
    from detcli.models import build_detector

    dev = check_device(device)
    cfg = _load_config(config, cfg_options)
    if "model" not in cfg:
        raise ConfigError(f"config {getattr(cfg, 'filename', '')} has no 'model'", hint="is it a detector config?")
    if "pretrained" in cfg.model:
        cfg.model.pretrained = None
    elif isinstance(cfg.model.get("backbone"), dict) and "init_cfg" in cfg.model.backbone:
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    if checkpoint is not None:
        from detcli.engine.checkpoint import load_checkpoint

        ckpt = load_checkpoint(model, checkpoint, map_location="cpu")
        meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
        if meta.get("CLASSES"):
            model.CLASSES = tuple(meta["CLASSES"])
        else:
            logger.warning("the checkpoint has no class names in its meta; using the config's dataset classes")
            model.CLASSES = tuple(_fallback_class_names(cfg))
    elif getattr(model, "CLASSES", None) is None:
        model.CLASSES = tuple(_fallback_class_names(cfg))
    model.cfg = cfg
    return prepare_for_inference(model, cfg, dev, fuse_conv_bn=fuse_conv_bn)


def _test_pipeline_cfg(cfg: Any) -> list[dict]:
    try:
        test = cfg.data.test
    except (AttributeError, KeyError):
        raise ConfigError("the config has no data.test pipeline, which inference needs",
                          hint="add data=dict(test=dict(pipeline=[...])) (see configs/_base_/datasets)") from None
    if isinstance(test, (list, tuple)):
        test = test[0]
    return [dict(step) for step in copy.deepcopy(test["pipeline"])]


class _Pipelines:
    """The test pipeline, in its file-loading and array-loading variants (built on first use)."""

    def __init__(self, cfg: Any) -> None:
        import warnings

        from detcli.data.pipelines import replace_ImageToTensor

        with warnings.catch_warnings():  # batching is this API's own choice: nothing for the user to fix
            warnings.filterwarnings("ignore", message='"ImageToTensor" cannot batch', category=UserWarning)
            self._steps = replace_ImageToTensor(_test_pipeline_cfg(cfg))
        self._built: dict[bool, Any] = {}

    def __call__(self, from_array: bool) -> Any:
        if from_array not in self._built:
            from detcli.data.pipelines import Compose

            steps = copy.deepcopy(self._steps)
            if from_array and steps and "LoadImage" in steps[0].get("type", ""):
                steps[0]["type"] = "LoadImageFromWebcam"
            self._built[from_array] = Compose(steps)
        return self._built[from_array]


def _pipelines_of(model: Any) -> _Pipelines:
    cached = getattr(model, "_detcli_pipelines", None)
    if cached is None or cached[0] is not model.cfg:
        cached = (model.cfg, _Pipelines(model.cfg))
        try:
            object.__setattr__(model, "_detcli_pipelines", cached)
        except AttributeError:
            pass
    return cached[1]


def prepare_batch(model: Any, imgs: Sequence[ImageInput]) -> dict:
    """Run the test pipeline on each image and collate them into one batch on the model's device."""
    from detcli.apis.test import model_device
    from detcli.data import collate, to_device

    pipelines = _pipelines_of(model)
    samples = []
    for img in imgs:
        if isinstance(img, np.ndarray):
            sample = pipelines(True)({"img": img})
        else:
            sample = pipelines(False)({"img_info": {"filename": os.fspath(img)}, "img_prefix": None})
        samples.append(sample)
    return to_device(collate(samples), model_device(model))


def inference_detector(model: torch.nn.Module, imgs: ImageInput | Sequence[ImageInput]) -> Any:
    """Detections of one image (path or BGR array), or a list of them for a list (run as one batch).

    Returns the 2.x result of each image: per-class (n, 5) arrays, or ``(bbox, segm)``.
    """
    is_batch = isinstance(imgs, (list, tuple))
    batch_imgs = list(imgs) if is_batch else [imgs]
    if not batch_imgs:
        return []
    data = prepare_batch(model, batch_imgs)
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, **data)
    return results if is_batch else results[0]


async def async_inference_detector(model: torch.nn.Module, imgs: ImageInput | Sequence[ImageInput]) -> Any:
    """``inference_detector`` without blocking the event loop.

    The work runs in a worker thread; on CUDA it runs on the stream current in the
    caller (the one ``concurrent`` handed out), so several requests overlap on the GPU.
    """
    stream = torch.cuda.current_stream() if model_on_cuda(model) else None

    def run() -> Any:
        if stream is None:
            return inference_detector(model, imgs)
        with torch.cuda.stream(stream):
            result = inference_detector(model, imgs)
        stream.synchronize()
        return result

    return await asyncio.get_running_loop().run_in_executor(None, run)


def model_on_cuda(model: torch.nn.Module) -> bool:
    from detcli.apis.test import model_device

    return model_device(model).type == "cuda"


def show_result_pyplot(model: Any, img: ImageInput, result: Any, score_thr: float = 0.3, title: str = "result",
                       wait_time: float = 0, palette: Any = None, out_file: str | None = None) -> np.ndarray:
    """Show detections in a window (the 2.x helper's name; drawn with OpenCV)."""
    detector = getattr(model, "module", model)
    return detector.show_result(img, result, score_thr=score_thr, show=True, wait_time=wait_time, win_name=title,
                                bbox_color=palette, text_color=(200, 200, 200), mask_color=palette,
                                out_file=out_file)
