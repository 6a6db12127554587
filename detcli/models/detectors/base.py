"""``BaseDetector``: the call protocol every detector shares.

``model(return_loss=True, img=..., img_metas=..., gt_bboxes=...)`` trains,
``model(return_loss=False, img=[...], img_metas=[[...]])`` tests (one list entry per
test-time augmentation; a single entry runs ``simple_test``, several ``aug_test``).
``train_step`` / ``val_step`` return ``dict(loss, log_vars, num_samples)`` for the runner.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from detcli.models.layers import BaseModule

logger = logging.getLogger("detcli")


def backbone_with_pretrained(backbone: Mapping, pretrained: str | None) -> dict:
    """The backbone cfg with the detector-level (legacy) ``pretrained`` applied.

    The detector-level value wins over a ``Pretrained`` init_cfg inherited from a base
    config (mmdetection's own r101-caffe configs combine the two).
    """
    backbone = dict(backbone)
    if not pretrained:
        return backbone
    init_cfg = backbone.get("init_cfg")
    if isinstance(init_cfg, Mapping) and init_cfg.get("type") == "Pretrained":
        logger.warning("model.pretrained=%s replaces backbone.init_cfg %s", pretrained, dict(init_cfg))
        backbone["init_cfg"] = None
    backbone["pretrained"] = pretrained
    return backbone


def _dist_ready() -> bool:
    return dist.is_available() and dist.is_initialized()


class BaseDetector(BaseModule):
    """Subclasses implement ``extract_feat``, ``forward_train``, ``simple_test`` and ``aug_test``."""

    CLASSES: Sequence[str] | None = None

    def __init__(self, init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__(init_cfg)
        self.fp16_enabled = False

    # -- structure ---------------------------------------------------------------
    @property
    def with_neck(self) -> bool:
        return getattr(self, "neck", None) is not None

    @property
    def with_rpn(self) -> bool:
        return getattr(self, "rpn_head", None) is not None

    @property
    def with_roi_head(self) -> bool:
        return getattr(self, "roi_head", None) is not None

    @property
    def with_shared_head(self) -> bool:
        return self.with_roi_head and getattr(self.roi_head, "with_shared_head", False)

    @property
    def with_bbox(self) -> bool:
        return ((self.with_roi_head and getattr(self.roi_head, "with_bbox", False))
                or getattr(self, "bbox_head", None) is not None)

    @property
    def with_mask(self) -> bool:
        return ((self.with_roi_head and getattr(self.roi_head, "with_mask", False))
                or getattr(self, "mask_head", None) is not None)

    def extract_feat(self, img: torch.Tensor):
        raise NotImplementedError

    def extract_feats(self, imgs: Sequence[torch.Tensor]) -> list:
        return [self.extract_feat(img) for img in imgs]

    # -- calls ---------------------------------------------------------------------
    def forward_train(self, imgs: torch.Tensor, img_metas: Sequence[dict], **kwargs) -> dict:
        """Records the padded batch size (``batch_input_shape``) in every meta; subclasses compute losses."""
        batch_input_shape = tuple(imgs[0].size()[-2:])
        for meta in img_metas:
            meta["batch_input_shape"] = batch_input_shape
        return {}

    def simple_test(self, img: torch.Tensor, img_metas: Sequence[dict], **kwargs) -> list:
        raise NotImplementedError

    def aug_test(self, imgs: Sequence[torch.Tensor], img_metas: Sequence[Sequence[dict]], **kwargs) -> list:
        raise NotImplementedError

    def forward_test(self, imgs, img_metas, **kwargs) -> list:
        """``imgs``: one batch per augmentation; ``img_metas``: per augmentation, per image."""
        if isinstance(imgs, torch.Tensor):  # a plain batch without augmentation lists
            imgs, img_metas = [imgs], [img_metas]
        for var, name in ((imgs, "imgs"), (img_metas, "img_metas")):
            if not isinstance(var, (list, tuple)):
                raise TypeError(f"{name} must be a list, but got {type(var).__name__}")
        if len(imgs) != len(img_metas):
            raise ValueError(f"num of augmentations ({len(imgs)}) != num of image metas ({len(img_metas)})")
        for img, metas in zip(imgs, img_metas):
            for meta in metas:
                meta["batch_input_shape"] = tuple(img.size()[-2:])
        if len(imgs) == 1:
            if "proposals" in kwargs:
                kwargs["proposals"] = kwargs["proposals"][0]
            return self.simple_test(imgs[0], img_metas[0], **kwargs)
        if imgs[0].size(0) != 1:
            raise ValueError(f"test-time augmentation needs batch size 1, got {imgs[0].size(0)}")
        if "proposals" in kwargs:
            raise ValueError("precomputed proposals are not supported with test-time augmentation")
        return self.aug_test(imgs, img_metas, **kwargs)

    def forward(self, img, img_metas, return_loss: bool = True, **kwargs):
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    # -- runner interface -----------------------------------------------------------
    def _parse_losses(self, losses: Mapping[str, Any]) -> tuple[torch.Tensor, OrderedDict]:
        """Total loss (sum of the entries whose name contains 'loss') and floats for logging.

        Lists (per-level losses) are summed after taking each element's mean; in distributed
        runs the logged values are averaged over processes.
        """
        log_vars: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                log_vars[name] = value.mean()
            elif isinstance(value, (list, tuple)):
                log_vars[name] = sum(item.mean() for item in value)
            else:
                raise TypeError(f"{name} is not a tensor or list of tensors")
        loss = sum(value for key, value in log_vars.items() if "loss" in key)
        if _dist_ready():
            count = torch.tensor(len(log_vars), device=loss.device)
            dist.all_reduce(count)
            if count.item() != len(log_vars) * dist.get_world_size():
                raise RuntimeError(f"rank {dist.get_rank()}: loss names differ across processes "
                                   f"({', '.join(log_vars)})")
        log_vars["loss"] = loss
        out: OrderedDict[str, float] = OrderedDict()
        for name, value in log_vars.items():
            if _dist_ready():
                value = value.data.clone()
                dist.all_reduce(value.div_(dist.get_world_size()))
            out[name] = value.item()
        return loss, out

    def train_step(self, data: Mapping, optimizer=None) -> dict:
        """Forward + loss parsing; the optimizer step belongs to the runner's hook."""
        loss, log_vars = self._parse_losses(self(**data))
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data["img_metas"]))

    def val_step(self, data: Mapping, optimizer=None) -> dict:
        """Losses of a ``('val', 1)`` workflow epoch, logged as ``<name>_val`` in ``mode: val`` lines, as
        mmdetection 2.28 logs them (2.27 and earlier used the training names; ``det analyze-logs`` reads both)."""
        loss, log_vars = self._parse_losses(self(**data))
        return dict(loss=loss, log_vars={f"{k}_val": v for k, v in log_vars.items()},
                    num_samples=len(data["img_metas"]))

    # -- visualisation --------------------------------------------------------------
    def show_result(self, img: str | os.PathLike | np.ndarray, result, score_thr: float = 0.3,
                    bbox_color=(72, 101, 241), text_color=(72, 101, 241), mask_color=None, thickness: int = 2,
                    font_scale: float = 0.5, win_name: str = "", show: bool = False, wait_time: float = 0,
                    out_file: str | os.PathLike | None = None, font_size: float | None = None) -> np.ndarray | None:
        """Draw ``result`` on ``img``; returns the drawing unless it was shown or written."""
        from detcli.visualization import imshow_det_bboxes, read_bgr, result_to_arrays

        drawing = read_bgr(img).copy()
        bboxes, labels, segms = result_to_arrays(result)
        if out_file is not None:
            show = False
        drawn = imshow_det_bboxes(
            drawing, bboxes, labels, segms, class_names=self.CLASSES, score_thr=score_thr, bbox_color=bbox_color,
            text_color=text_color, mask_color=mask_color, thickness=thickness, font_scale=font_scale,
            win_name=win_name, show=show, wait_time=wait_time, out_file=out_file, font_size=font_size)
        return None if (show or out_file) else drawn
