"""Tiny RetinaNet / RPN / Faster R-CNN / Mask R-CNN from the shipped configs, with random weights, for export tests.

The shipped configs are shrunk with ``--cfg-options`` (ResNet-18 with 4 base channels, a
16-channel FPN, narrow heads, 3 classes), so that the exported graph is the real model's
graph at a size that exports and runs in about a second. The weights are the model's
initialisation plus Gaussian noise, so that every layer (and bias, and BN statistic)
shapes the outputs and the scores spread out instead of sitting at the init prior.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
CLASSES = ("circle", "square", "triangle")

_BACKBONE_NECK = {
    "model.backbone.depth": 18, "model.backbone.base_channels": 4, "model.backbone.init_cfg": None,
    "model.neck.in_channels": [4, 8, 16, 32], "model.neck.out_channels": 16,
}
_RPN_BBOX = {
    "model.rpn_head.in_channels": 16, "model.rpn_head.feat_channels": 16,
    "model.roi_head.bbox_roi_extractor.out_channels": 16, "model.roi_head.bbox_head.in_channels": 16,
    "model.roi_head.bbox_head.fc_out_channels": 32, "model.roi_head.bbox_head.num_classes": 3,
    "model.test_cfg.rcnn.max_per_img": 30,
}
_MASK = {
    "model.roi_head.mask_roi_extractor.out_channels": 16, "model.roi_head.mask_head.in_channels": 16,
    "model.roi_head.mask_head.conv_out_channels": 16, "model.roi_head.mask_head.num_convs": 1,
    "model.roi_head.mask_head.num_classes": 3,
}
TINY = {
    "retinanet": ("configs/retinanet/retinanet_r50_fpn_1x_coco.py", {
        **_BACKBONE_NECK, "model.bbox_head.in_channels": 16, "model.bbox_head.feat_channels": 16,
        "model.bbox_head.stacked_convs": 1, "model.bbox_head.num_classes": 3, "model.test_cfg.max_per_img": 30}),
    "rpn": ("configs/rpn/rpn_r50_fpn_1x_coco.py", {
        **_BACKBONE_NECK, "model.rpn_head.in_channels": 16, "model.rpn_head.feat_channels": 16,
        "model.test_cfg.rpn.max_per_img": 50}),
    "faster_rcnn": ("configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py", {**_BACKBONE_NECK, **_RPN_BBOX}),
    "mask_rcnn": ("configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", {**_BACKBONE_NECK, **_RPN_BBOX, **_MASK}),
}


def cfg_option_args(options: dict) -> list[str]:
    """The same overrides as ``--cfg-options`` arguments."""
    return [f"{key}={value!r}".replace(" ", "") if not isinstance(value, str) else f"{key}={value}"
            for key, value in options.items()]


def build_tiny(kind: str, extra: dict | None = None, seed: int = 0, noise: float = 0.1):
    """``(config path, cfg options, model)``: the tiny detector in eval mode."""
    from detcli.config import load_config
    from detcli.models import build_detector

    path, options = TINY[kind]
    options = {**options, **(extra or {})}
    cfg = load_config(REPO / path, options)
    cfg.model.train_cfg = None
    torch.manual_seed(seed)
    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=rng) * noise)
        for name, buffer in model.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5, generator=rng)
            elif name.endswith("running_mean"):
                buffer.normal_(0, 0.1, generator=rng)
    model.CLASSES = CLASSES
    model.cfg = cfg
    return str(REPO / path), options, model.eval()


def save_checkpoint(model, path: Path) -> Path:
    torch.save({"meta": {"CLASSES": list(CLASSES)}, "state_dict": model.state_dict()}, path)
    return path


def scene(size: int = 200, seed: int = 3) -> np.ndarray:
    """A BGR image with a few filled shapes on a noisy background."""
    import cv2

    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    cv2.circle(img, (60, 70), 35, (30, 200, 220), -1)
    cv2.rectangle(img, (110, 30), (180, 100), (200, 60, 40), -1)
    cv2.fillPoly(img, [np.array([[40, 190], [100, 120], [160, 190]], np.int32)], (90, 220, 90))
    return img
