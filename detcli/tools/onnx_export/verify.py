"""Checking an exported graph: run it in ONNX Runtime and compare with the PyTorch model.

Detections are compared after pairing: per class, each PyTorch detection (best score
first) takes the unpaired ONNX detection of that class with the closest box within the
``Tolerance``. Outputs agree when every detection has a partner and each pair's masks
overlap with at least ``mask_iou`` IoU (or differ in a couple of pixels at the 0.5
threshold). Where NMS chose between two near-tied overlapping candidates, the other one
is accepted as the partner (see ``compare_detections``). Raw head outputs (an export
without post-processing) are compared element by element.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from detcli.errors import DetError


class VerificationError(DetError):
    """ONNX Runtime's outputs differ from PyTorch's beyond the tolerance."""


@dataclass(frozen=True)
class Tolerance:
    """How close the ONNX outputs must be: ``|a - b| <= atol + rtol * |b|`` for boxes and raw outputs."""

    box_atol: float = 1e-3  # pixels
    box_rtol: float = 1e-3
    score_atol: float = 1e-4
    mask_iou: float = 0.99
    mask_pixels: int = 2  # pixels at the binarisation threshold flip with the last float bits
    swap_iou: float = 0.5
    raw_atol: float = 1e-4
    raw_rtol: float = 1e-3

    def describe(self) -> str:
        return (f"boxes {self.box_atol:g} px + {self.box_rtol:g} rel, scores {self.score_atol:g}, labels equal, "
                f"masks IoU >= {self.mask_iou:g} or at most {self.mask_pixels} pixels differ")

    def masks_agree(self, a: np.ndarray, b: np.ndarray) -> bool:
        differ = int(np.count_nonzero(a != b))
        return differ <= self.mask_pixels or _mask_iou(a, b) >= self.mask_iou


@dataclass
class Detections:
    """One image's detections: ``boxes (n, 4)``, ``scores (n,)``, ``labels (n,)``, ``masks (n, H, W)`` bool."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)


def detections_from_result(result) -> Detections:
    """Flatten a PyTorch result (per-class arrays, ``(bbox, segm)``, or RPN proposals)."""
    if isinstance(result, np.ndarray):  # an RPN's (n, 5) proposals
        return Detections(result[:, :4], result[:, 4], np.zeros(len(result), dtype=np.int64))
    bbox_result, segm_result = result if isinstance(result, tuple) else (result, None)
    dets = np.concatenate([np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in bbox_result])
    labels = np.concatenate([np.full(len(b), c, dtype=np.int64) for c, b in enumerate(bbox_result)])
    masks = None
    if segm_result is not None:
        # soft masks (mask_thr_binary < 0) are uint8 probabilities x 255
        flat = [np.asarray(m) >= 128 if np.asarray(m).dtype == np.uint8 else np.asarray(m, dtype=bool)
                for per_class in segm_result for m in per_class]
        masks = np.stack(flat) if flat else np.zeros((0, 0, 0), dtype=bool)
    return Detections(dets[:, :4], dets[:, 4], labels, masks)


def detections_from_outputs(outputs: Sequence[np.ndarray]) -> Detections:
    """The exported graph's ``dets``, ``labels`` (and ``masks``) for its one image."""
    dets, labels = outputs[0][0], outputs[1][0]
    masks = outputs[2][0] >= 0.5 if len(outputs) > 2 else None
    return Detections(dets[:, :4], dets[:, 4], labels.astype(np.int64), masks)


@dataclass
class Comparison:
    """The largest differences between two sets of detections."""

    num_pytorch: int
    num_onnx: int
    paired: int
    swapped: int
    max_box_diff: float
    max_score_diff: float
    min_mask_iou: float | None
    max_mask_pixels: int | None
    within: bool

    def summary(self) -> str:
        swapped = f" + {self.swapped} near-tied swapped" if self.swapped else ""
        text = (f"{self.num_pytorch} detections (PyTorch) / {self.num_onnx} (ONNX Runtime), {self.paired} paired"
                f"{swapped}; largest differences: boxes {self.max_box_diff:.3g} px, scores {self.max_score_diff:.3g}")
        if self.min_mask_iou is not None:
            text += f", masks: lowest IoU {self.min_mask_iou:.4f}, most pixels differing {self.max_mask_pixels}"
        return text


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def compare_detections(ref: Detections, got: Detections, tol: Tolerance = Tolerance(),
                       candidates: Detections | None = None) -> Comparison:
    """Pair ``got`` (ONNX) with ``ref`` (PyTorch) detections and measure how far apart they are.

    Pairs must be within the tolerance. Where two of PyTorch's pre-NMS ``candidates`` of a
    class overlap (IoU >= ``swap_iou``) and their scores differ by less than the score
    tolerance, which one NMS keeps is down to the last bits of the scores: an ONNX detection
    that is such a candidate may stand in for the PyTorch one it overlaps (a swap; its box
    difference is not measured). A detection left without a partner is reported by its
    closest candidate.
    """
    used = np.zeros(len(got), dtype=bool)
    pairs, leftover = [], []
    for i in np.argsort(-ref.scores, kind="stable"):
        candidates_i = np.flatnonzero((got.labels == ref.labels[i]) & ~used)
        close = [j for j in candidates_i if _close(ref.boxes[i], ref.scores[i], got.boxes[j], got.scores[j], tol)]
        if close:
            j = min(close, key=lambda j: float(np.abs(got.boxes[j] - ref.boxes[i]).max()))
            used[j] = True
            pairs.append((i, j))
        else:
            leftover.append(i)
    swaps, unpaired = 0, []
    for i in leftover:
        j = _swap_partner(ref, got, i, used, candidates, tol)
        if j is None:
            unpaired.append(i)
        else:
            used[j] = True
            swaps += 1
    max_box = max_score = 0.0
    for i, j in pairs + [(i, _closest(ref, got, i, used)) for i in unpaired]:
        if j is None:
            continue
        max_box = max(max_box, float(np.abs(got.boxes[j] - ref.boxes[i]).max()))
        max_score = max(max_score, abs(float(got.scores[j]) - float(ref.scores[i])))
    within = not unpaired and bool(used.all())
    min_iou = max_pixels = None
    if ref.masks is not None or got.masks is not None:
        if ref.masks is None or got.masks is None:
            return Comparison(len(ref), len(got), len(pairs), swaps, max_box, max_score, 0.0, None, False)
        if pairs:
            min_iou, max_pixels = 1.0, 0
        for i, j in pairs:
            min_iou = min(min_iou, _mask_iou(ref.masks[i], got.masks[j]))
            max_pixels = max(max_pixels, int(np.count_nonzero(ref.masks[i] != got.masks[j])))
            within = within and tol.masks_agree(ref.masks[i], got.masks[j])
    return Comparison(len(ref), len(got), len(pairs), swaps, max_box, max_score, min_iou, max_pixels, within)


def _close(box_a: np.ndarray, score_a: float, box_b: np.ndarray, score_b: float, tol: Tolerance) -> bool:
    """Whether ``b`` is ``a`` within the tolerance (``a`` is the PyTorch side)."""
    return bool(np.all(np.abs(box_b - box_a) <= tol.box_atol + tol.box_rtol * np.abs(box_a))
                and abs(float(score_b) - float(score_a)) <= tol.score_atol)


def _swap_partner(ref: Detections, got: Detections, i: int, used: np.ndarray, candidates: Detections | None,
                  tol: Tolerance) -> int | None:
    """An unpaired ONNX detection that NMS could have kept instead of ``ref`` detection ``i``."""
    if candidates is None:
        return None
    label, score = ref.labels[i], float(ref.scores[i])
    pool = candidates.labels == label
    best, best_iou = None, tol.swap_iou
    for j in np.flatnonzero((got.labels == label) & ~used):
        iou = _box_iou(ref.boxes[i], got.boxes[j])
        if abs(float(got.scores[j]) - score) > tol.score_atol or iou < best_iou:
            continue
        if any(_close(candidates.boxes[k], candidates.scores[k], got.boxes[j], got.scores[j], tol)
               for k in np.flatnonzero(pool)):
            best, best_iou = j, iou
    return best


def _closest(ref: Detections, got: Detections, i: int, used: np.ndarray) -> int | None:
    candidates = np.flatnonzero((got.labels == ref.labels[i]) & ~used)
    if not len(candidates):
        return None
    return int(candidates[np.argmin(np.abs(got.boxes[candidates] - ref.boxes[i]).max(axis=1))])


def pre_nms_candidates(model: torch.nn.Module, img: torch.Tensor, meta: dict) -> Detections | None:
    """PyTorch's scored boxes before NMS (above the score threshold), where the model family has them."""
    with torch.no_grad():
        feats = model.extract_feat(img)
        roi_head = getattr(model, "roi_head", None)
        if roi_head is None and getattr(model, "bbox_head", None) is not None:
            head = model.bbox_head
            bboxes, scores, labels = head.get_bboxes(*head(feats), img_metas=[meta], rescale=True, with_nms=False)[0]
            return Detections(bboxes.numpy(), scores.numpy(), labels.numpy())
        if roi_head is None or getattr(model, "rpn_head", None) is None:
            return None
        proposals = model.rpn_head.simple_test_rpn(feats, [meta])
        bboxes, scores = roi_head.simple_test_bboxes(feats, [meta], proposals, None, rescale=True)
    num_classes = scores[0].shape[1] - 1
    boxes = bboxes[0].reshape(len(bboxes[0]), -1, 4).expand(-1, num_classes, 4).reshape(-1, 4)
    class_scores = scores[0][:, :num_classes].reshape(-1)
    labels = torch.arange(num_classes).repeat(len(scores[0]))
    keep = class_scores > roi_head.test_cfg["score_thr"]
    return Detections(boxes[keep].numpy(), class_scores[keep].numpy(), labels[keep].numpy())


def tied_scores_note(model: torch.nn.Module, img: torch.Tensor, meta: dict) -> str | None:
    """Why outputs may legitimately differ: exactly tied scores where the model selects boxes.

    Tied scores (flat image regions give identical features) are ordered arbitrarily by
    torch's sort and by index in ONNX's TopK/NMS, so the two can select different boxes.
    """
    with torch.no_grad():
        if getattr(model, "rpn_head", None) is not None:
            scores, where = model.rpn_head.simple_test_rpn(model.extract_feat(img), [meta])[0][:, 4], "RPN proposals"
        else:
            candidates = pre_nms_candidates(model, img, meta)
            if candidates is None:
                return None
            scores, where = torch.from_numpy(candidates.scores), "pre-NMS detections"
    tied = len(scores) - len(torch.unique(scores))
    if not tied:
        return None
    return (f"{tied} of PyTorch's {len(scores)} {where} have a score equal to another's, and tied scores are "
            "ordered differently by torch's sort and ONNX's TopK; flat image regions do this, so try an image "
            "with texture")


@dataclass
class RawComparison:
    """Per output, the largest absolute difference of raw head outputs."""

    max_abs_diff: dict[str, float]
    within: bool

    def summary(self) -> str:
        worst = max(self.max_abs_diff.items(), key=lambda kv: kv[1])
        return f"{len(self.max_abs_diff)} raw outputs; largest difference {worst[1]:.3g} ({worst[0]})"


def compare_raw(names: Sequence[str], ref: Sequence[np.ndarray], got: Sequence[np.ndarray],
                tol: Tolerance = Tolerance()) -> RawComparison:
    """Element-wise comparison of raw outputs of the same shapes."""
    diffs, within = {}, True
    for name, a, b in zip(names, ref, got):
        if a.shape != b.shape:
            raise VerificationError(f"ONNX output {name} has shape {tuple(b.shape)}, PyTorch's {tuple(a.shape)}")
        diffs[name] = float(np.abs(a - b).max()) if a.size else 0.0
        within = within and bool(np.all(np.abs(a - b) <= tol.raw_atol + tol.raw_rtol * np.abs(a)))
    return RawComparison(diffs, within)


def onnxruntime_session(path: str | os.PathLike):
    """An ONNX Runtime session on the CPU for ``path`` (checked with ``onnx.checker`` first)."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_session(session, inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
    feeds = {meta.name: tensor.detach().cpu().numpy() for meta, tensor in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)
