"""What gets traced: one ``nn.Module`` per detector family, taking the image tensor only.

``build_export_module(model)`` picks the wrapper, or raises ``ExportBlockedError`` naming the
module that has no export path (a head whose test-time post-processing is its own code).

With post-processing (mmdetection 2.x's exported layout, batch of one image):
``dets (1, N, 5)`` ``[x1, y1, x2, y2, score]`` in input pixels, ``labels (1, N)`` int64 and,
with a mask head, ``masks (1, N, H, W)`` float 0/1. Without it (``raw=True``): the heads'
outputs as they leave the network; a two-stage model then also takes the ``rois`` to run
the RoI head on (``(K, 5)``: ``[0, x1, y1, x2, y2]``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn

from detcli.errors import DetError

from .dense_head_export import dense_detections, rpn_proposals
from .roi_head_export import rcnn_detections, rcnn_masks, single_roi_extractor_forward
from .traceable_ops import image_hw


class ExportBlockedError(DetError):
    """A model part whose test-time computation cannot be written into an ONNX graph here."""


RAW_OUTPUT_NAMES = ("cls_score", "bbox_pred", "score_factor")


class SingleStageExport(nn.Module):
    """Backbone, neck and dense head, with the head's NMS post-processing."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        head = self.detector.bbox_head
        outs = head(self.detector.extract_feat(img))
        dets, labels = dense_detections(head, outs, image_hw(img))
        return dets[None], labels[None]


class RPNExport(nn.Module):
    """An RPN detector: its proposals as ``dets``, all labelled 0."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        head = self.detector.rpn_head
        dets = rpn_proposals(head, head(self.detector.extract_feat(img)), image_hw(img))
        return dets[None], torch.zeros_like(dets[:, 0], dtype=torch.long)[None]


class TwoStageExport(nn.Module):
    """RPN proposals, the RoI head's per-class NMS and, with a mask head, the pasted masks."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        detector = self.detector
        feats = detector.extract_feat(img)
        hw = image_hw(img)
        proposals = rpn_proposals(detector.rpn_head, detector.rpn_head(feats), hw)
        dets, labels = rcnn_detections(detector.roi_head, feats, proposals, hw)
        if not detector.roi_head.with_mask:
            return dets[None], labels[None]
        masks = rcnn_masks(detector.roi_head, feats, dets, labels, img)
        return dets[None], labels[None], masks[None]


class DenseRawExport(nn.Module):
    """A dense head's raw maps, level by level (``cls_score_0 .. bbox_pred_0 ..``)."""

    def __init__(self, detector: nn.Module, head_name: str) -> None:
        super().__init__()
        self.detector = detector
        self.head_name = head_name

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = getattr(self.detector, self.head_name)(self.detector.extract_feat(img))
        return tuple(level for kind in outs for level in kind)


class TwoStageRawExport(nn.Module):
    """The RPN's raw maps, then the RoI head's raw outputs for the given ``rois``."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, img: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, ...]:
        detector = self.detector
        feats = detector.extract_feat(img)
        rpn_outs = detector.rpn_head(feats)
        roi_head = detector.roi_head
        results = roi_head._bbox_forward(feats, rois)
        outs = (*[level for kind in rpn_outs for level in kind], results["cls_score"], results["bbox_pred"])
        if roi_head.with_mask:
            outs += (roi_head._mask_forward(feats, rois)["mask_pred"],)
        return outs


# -- which models export ----------------------------------------------------------------------
def _overridden(obj: object, base: type, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if getattr(type(obj), name, None) is not getattr(base, name, None)]


def _blocked(path: str, module: object, why: str, hint: str | None = None) -> ExportBlockedError:
    return ExportBlockedError(f"cannot export to ONNX: {path} ({type(module).__name__}) {why}",
                              hint=hint or "export without post-processing (--skip-postprocess), or use a "
                                           "supported head: dense anchor heads, RPNHead, StandardRoIHead")


def _check_own_postprocess(path: str, module: object, base: type, names: tuple[str, ...]) -> None:
    if not isinstance(module, base):
        raise _blocked(path, module, f"is not a {base.__name__}, whose test-time post-processing the export "
                                     "reproduces")
    changed = _overridden(module, base, names)
    if changed:
        raise _blocked(path, module, f"has its own test-time post-processing ({', '.join(changed)}), "
                                     "which the export does not reproduce")


def _check_dense_head(path: str, head: nn.Module, dynamic: bool) -> None:
    from detcli.models.dense_heads.base_dense_head import BaseDenseHead

    _check_own_postprocess(path, head, BaseDenseHead, ("get_bboxes", "_get_bboxes_single", "_bbox_post_process"))
    _check_dense_head_priors(path, head, dynamic)


def _check_rpn_head(path: str, head: nn.Module, dynamic: bool) -> None:
    from detcli.models.dense_heads.rpn_head import RPNHead

    _check_own_postprocess(path, head, RPNHead, ("get_bboxes", "_get_bboxes_single", "_bbox_post_process",
                                                 "simple_test_rpn"))
    _check_dense_head_priors(path, head, dynamic)


def _check_dense_head_priors(path: str, head: nn.Module, dynamic: bool) -> None:
    from detcli.models.task_modules.anchor_generator import AnchorGenerator

    generator = head.prior_generator
    if dynamic and not (isinstance(generator, AnchorGenerator) and type(generator).single_level_grid_priors
                        is AnchorGenerator.single_level_grid_priors):
        raise _blocked(f"{path}.prior_generator", generator, "computes its priors in a way the export cannot "
                       "trace for other input sizes", hint="export without --dynamic-export")


def _check_roi_head(roi_head: nn.Module) -> None:
    from detcli.models.roi_heads.bbox_heads.bbox_head import BBoxHead
    from detcli.models.roi_heads.mask_heads.fcn_mask_head import FCNMaskHead
    from detcli.models.roi_heads.standard_roi_head import StandardRoIHead

    _check_own_postprocess("roi_head", roi_head, StandardRoIHead,
                           ("simple_test", "simple_test_bboxes", "simple_test_mask"))
    if not roi_head.with_bbox:
        raise _blocked("roi_head", roi_head, "has no bbox head", hint=None)
    _check_own_postprocess("roi_head.bbox_head", roi_head.bbox_head, BBoxHead, ("get_bboxes",))
    if not roi_head.bbox_head.with_cls:
        raise _blocked("roi_head.bbox_head", roi_head.bbox_head, "has no classification branch")
    if roi_head.with_mask:
        _check_own_postprocess("roi_head.mask_head", roi_head.mask_head, FCNMaskHead, ("get_seg_masks",))


def _check_roi_extractors(model: nn.Module) -> None:
    from detcli.models.roi_heads.roi_extractors import BaseRoIExtractor, SingleRoIExtractor

    for path, module in model.named_modules():
        if isinstance(module, BaseRoIExtractor):
            _check_own_postprocess(path, module, SingleRoIExtractor, ("forward",))


def build_export_module(model: nn.Module, raw: bool = False, dynamic: bool = False) -> nn.Module:
    """The module to trace for ``model`` (see the module docstring for its inputs and outputs)."""
    from detcli.models.detectors.rpn import RPN
    from detcli.models.detectors.single_stage import SingleStageDetector
    from detcli.models.detectors.two_stage import TwoStageDetector

    if isinstance(model, SingleStageDetector):
        if raw:
            return DenseRawExport(model, "bbox_head")
        _check_dense_head("bbox_head", model.bbox_head, dynamic)
        return SingleStageExport(model)
    if isinstance(model, RPN):
        if raw:
            return DenseRawExport(model, "rpn_head")
        _check_rpn_head("rpn_head", model.rpn_head, dynamic)
        return RPNExport(model)
    if isinstance(model, TwoStageDetector) and model.with_rpn:
        _check_roi_extractors(model)
        if raw:
            return TwoStageRawExport(model)
        _check_rpn_head("rpn_head", model.rpn_head, dynamic)
        _check_roi_head(model.roi_head)
        return TwoStageExport(model)
    if isinstance(model, TwoStageDetector):
        raise _blocked("model", model, "has no RPN: it takes precomputed proposals, which an exported graph "
                                       "cannot read from files", hint="export a detector with an rpn_head")
    raise _blocked("model", model, "is a detector family without an ONNX export path",
                   hint="single-stage, RPN and two-stage (RPN + StandardRoIHead) detectors export")


def output_names(export_module: nn.Module, outputs: tuple[torch.Tensor, ...]) -> list[str]:
    """Names of the graph outputs, given what ``export_module`` returned on the example input."""
    detector = export_module.detector
    if isinstance(export_module, (TwoStageExport, SingleStageExport, RPNExport)):
        return ["dets", "labels", "masks"][:len(outputs)]
    if isinstance(export_module, DenseRawExport):
        head = getattr(detector, export_module.head_name)
        prefix = "rpn_" if export_module.head_name == "rpn_head" else ""
        return _raw_level_names(head, prefix, len(outputs))
    num_rpn = len(outputs) - (3 if detector.roi_head.with_mask else 2)
    names = _raw_level_names(detector.rpn_head, "rpn_", num_rpn) + ["cls_score", "bbox_pred"]
    return names + ["mask_pred"] if detector.roi_head.with_mask else names


def _raw_level_names(head: nn.Module, prefix: str, count: int) -> list[str]:
    """``cls_score_0, cls_score_1, ..., bbox_pred_0, ...`` for ``count`` per-level outputs."""
    num_levels = head.prior_generator.num_levels
    kinds = [RAW_OUTPUT_NAMES[i] if i < len(RAW_OUTPUT_NAMES) else f"output{i}" for i in range(count // num_levels)]
    return [f"{prefix}{kind}_{level}" for kind in kinds for level in range(num_levels)]


@contextlib.contextmanager
def export_friendly(model: nn.Module) -> Iterator[None]:
    """Swap in the traceable RoI-extractor forward for the duration of an export; restored after."""
    from detcli.models.roi_heads.roi_extractors import SingleRoIExtractor

    patched = [module for module in model.modules() if isinstance(module, SingleRoIExtractor)]
    for module in patched:
        module.forward = functools.partial(single_roi_extractor_forward, module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward
