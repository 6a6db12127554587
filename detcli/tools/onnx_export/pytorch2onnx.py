"""What ``det pytorch2onnx`` does: load the model, export it, optionally verify it in ONNX Runtime."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .example_input import input_shape, normalize_cfg, prepare_input, size_divisor
from .export import ExportResult, example_rois, export_model
from .verify import (
    Comparison,
    RawComparison,
    Tolerance,
    VerificationError,
    compare_detections,
    compare_raw,
    detections_from_outputs,
    detections_from_result,
    onnxruntime_session,
    pre_nms_candidates,
    run_session,
    tied_scores_note,
)
from .wrappers import build_export_module


@dataclass
class VerifyCase:
    """One verification input: what it is, the image (path or None for the default) and its size."""

    name: str
    image: str | os.PathLike | None
    shape: tuple[int, int]


def second_shape(shape: tuple[int, int], divisor: int | None) -> tuple[int, int]:
    """A larger input size for checking a dynamic export (1.5x, rounded to the pipeline's divisor)."""
    step = divisor or 32
    return tuple(max(step, int(v * 1.5) // step * step) for v in shape)  # type: ignore[return-value]


def verify_cases(input_img, test_img, shape: tuple[int, int], dynamic: bool, divisor: int | None) -> list[VerifyCase]:
    """The export's own input; the test image if given; with a dynamic export, one more size."""
    cases = [VerifyCase("input image", input_img, shape)]
    if test_img is not None and not dynamic:
        cases.append(VerifyCase("test image", test_img, shape))
    if dynamic:
        image, what = (test_img, "test image") if test_img is not None else (input_img, "input image")
        cases.append(VerifyCase(what, image, second_shape(shape, divisor)))
    return cases


def verify_export(model: torch.nn.Module, exported: ExportResult, case: VerifyCase, norm: dict,
                  tol: Tolerance, session=None) -> tuple[Comparison | RawComparison, Any, Any]:
    """Compare ONNX Runtime with PyTorch on ``case``; returns the comparison and both raw results."""
    session = session or onnxruntime_session(exported.path)
    img, meta, _ = prepare_input(case.image, case.shape, norm)
    with torch.no_grad():
        if exported.raw:
            export_module = build_export_module(model, raw=True)
            inputs = (img, example_rois(model, img, meta)) if "rois" in exported.input_names else (img,)
            ref = [t.numpy() for t in export_module(*inputs)]
        else:
            inputs = (img,)
            ref = model.simple_test(img, [meta], rescale=True)[0]
    got = run_session(session, inputs)
    if exported.raw:
        return compare_raw(exported.output_names, ref, got, tol), ref, got
    ref_dets, got_dets = detections_from_result(ref), detections_from_outputs(got)
    comparison = compare_detections(ref_dets, got_dets, tol)
    if not comparison.within:  # near-tied NMS survivors may differ: check against PyTorch's candidates
        candidates = pre_nms_candidates(model, img, meta)
        comparison = compare_detections(ref_dets, got_dets, tol, candidates)
    return comparison, ref, got


def load_model(config: str, checkpoint: str, cfg_options: dict | None) -> torch.nn.Module:
    """The detector on the CPU in eval mode, weights in the default (NCHW) memory layout."""
    from detcli.apis import init_detector

    model = init_detector(config, checkpoint, device="cpu", cfg_options=cfg_options)
    return model.to(memory_format=torch.contiguous_format)


def run_pytorch2onnx(config: str, checkpoint: str, output_file: str = "tmp.onnx", input_img: str | None = None,
                     shape: Sequence[int] = (800, 1216), opset_version: int | None = None,
                     dynamic_export: bool = False, skip_postprocess: bool = False, simplify: bool = False,
                     verify: bool = False, test_img: str | None = None, show: bool = False,
                     cfg_options: dict | None = None, tolerance: Tolerance = Tolerance()) -> dict:
    """Export CONFIG + CHECKPOINT to ``output_file``; with ``verify``, compare with PyTorch (raises on a mismatch).

    Returns a summary: the file, opset, input/output names and, per verification, the comparison.
    """
    model = load_model(config, checkpoint, cfg_options)
    norm = normalize_cfg(model.cfg)
    divisor = size_divisor(model.cfg)
    hw = input_shape(shape, divisor)
    img, meta, _ = prepare_input(input_img, hw, norm)
    exported = export_model(model, img, meta, output_file, opset_version=opset_version, dynamic=dynamic_export,
                            raw=skip_postprocess, simplify=simplify, verbose=show)
    size_mb = os.path.getsize(exported.path) / 2**20
    axes = "height, width dynamic" if dynamic_export else f"{hw[0]}x{hw[1]} only"
    print(f"exported {exported.path} ({size_mb:.1f} MB, opset {exported.opset}, input {axes}); "
          f"outputs: {', '.join(exported.output_names)}")
    for line in exported.trace_warnings:
        print(f"warning: the trace may not hold for other inputs: {line}", file=sys.stderr)
    summary: dict[str, Any] = dict(output_file=str(exported.path), opset=exported.opset,
                                   inputs=exported.input_names, outputs=exported.output_names, verified=[])
    if not verify:
        return summary
    session = onnxruntime_session(exported.path)
    failed = None
    for case in verify_cases(input_img, test_img, hw, dynamic_export, divisor):
        comparison, ref, got = verify_export(model, exported, case, norm, tolerance, session)
        label = f"{case.name} {case.shape[0]}x{case.shape[1]}"
        verdict = "within tolerance" if comparison.within else "BEYOND tolerance"
        print(f"verify ({label}): {comparison.summary()}; {verdict}")
        if isinstance(comparison, Comparison) and comparison.num_pytorch == 0:
            print("warning: PyTorch detects nothing on this image, so the comparison says little; "
                  "try --input-img with objects, or a lower score_thr via --cfg-options", file=sys.stderr)
        if show and not exported.raw:
            _show_both(model, case, norm, ref, got)
        summary["verified"].append(dict(case=label, comparison=comparison))
        if not comparison.within and failed is None:
            note = None if exported.raw else tied_scores_note(model, *prepare_input(case.image, case.shape, norm)[:2])
            failed = (label, comparison, note)
    if failed is not None:
        label, comparison, note = failed
        hint = f"tolerance: {tolerance.describe()}" + (f"; note: {note}" if note else "")
        raise VerificationError(f"ONNX Runtime and PyTorch disagree on the {label}: {comparison.summary()}",
                                hint=hint)
    print(f"ONNX Runtime matches PyTorch (tolerance: {tolerance.describe()})")
    return summary


def _show_both(model, case: VerifyCase, norm: dict, ref, got) -> None:
    """Windows with PyTorch's and ONNX Runtime's detections (``--show --verify``)."""
    from detcli.structures.boxes import bbox2result

    _, _, image = prepare_input(case.image, case.shape, norm)
    dets = detections_from_outputs(got)
    num_classes = len(model.CLASSES)
    flat = np.concatenate([dets.boxes, dets.scores[:, None]], 1)
    onnx_result: Any = flat if isinstance(ref, np.ndarray) else bbox2result(flat, dets.labels, num_classes)
    if dets.masks is not None:
        segms: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
        for mask, label in zip(dets.masks, dets.labels):
            segms[int(label)].append(mask)
        onnx_result = (onnx_result, segms)
    model.show_result(image, ref, show=True, win_name="PyTorch")
    model.show_result(image, onnx_result, show=True, win_name="ONNX Runtime")
