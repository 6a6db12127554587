"""Writing the ONNX file: opset checks, ``torch.onnx.export``, optional simplification.

Exporter choice: the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``).
The dynamo exporter (the default since torch 2.9) needs ``onnxscript`` and
``torch.export``, which rejects data-dependent output sizes (score thresholds, NMS) unless
every such size is annotated by hand; the TorchScript tracer records them as ``NonZero``
/ ``NonMaxSuppression`` nodes, and ``torchvision.ops.nms`` / ``roi_align`` ship symbolics
for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from detcli.atomic_write import atomic_path
from detcli.errors import DetError

from .wrappers import (
    ExportBlockedError,
    TwoStageRawExport,
    build_export_module,
    export_friendly,
    output_names,
)

# The lowest opset the exported graphs use: TopK with a run-time k, ScatterND, Range (opset 11).
BASE_OPSET = 11
# RoIAlign with half-pixel alignment (``aligned=True``, every 2.x config) exists from opset 16.
ALIGNED_ROI_ALIGN_OPSET = 16


class ExportError(DetError):
    """The model could not be written as an ONNX file."""


@dataclass
class ExportResult:
    """What was written: the file, its opset, and the graph's inputs and outputs."""

    path: Path
    opset: int
    input_names: list[str]
    output_names: list[str]
    dynamic: bool
    raw: bool
    trace_warnings: list[str] = field(default_factory=list)


def required_opset(model: nn.Module) -> tuple[int, str]:
    """The lowest opset ``model``'s graph needs, and what needs it."""
    from detcli.models.layers.roi_layers import RoIAlign

    for path, module in model.named_modules():
        if isinstance(module, RoIAlign) and module.aligned:
            return ALIGNED_ROI_ALIGN_OPSET, f"{path} (RoIAlign, aligned=True)"
    return BASE_OPSET, "NMS with a run-time number of boxes"


def highest_opset() -> int:
    """The highest opset torch's TorchScript-based exporter writes."""
    try:
        from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    except ImportError:  # a torch without the constant: the last value it had
        return 20
    return int(ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)


def choose_opset(model: nn.Module, requested: int | None) -> int:
    """``requested``, or the lowest the model needs; one-line error when ``requested`` is out of range."""
    needed, why = required_opset(model)
    if requested is None:
        return needed
    if requested > highest_opset():
        raise ExportError(f"opset {requested} is above the highest torch {torch.__version__} exports "
                          f"({highest_opset()})", hint=f"use --opset-version between {needed} and {highest_opset()}")
    if requested < needed:
        raise ExportError(f"opset {requested} is too low for this model: {why} needs opset >= {needed}",
                          hint=f"use --opset-version {needed} (or leave it out: the lowest that works is chosen)")
    return requested


def example_rois(model: nn.Module, img: torch.Tensor, meta: dict) -> torch.Tensor:
    """``(K, 5)`` RoIs for a two-stage export without post-processing: the RPN's proposals for ``img``."""
    with torch.no_grad():
        proposals = model.rpn_head.simple_test_rpn(model.extract_feat(img), [meta])[0]
    return torch.cat([proposals.new_zeros(len(proposals), 1), proposals[:, :4]], dim=1)


def export_model(model: nn.Module, img: torch.Tensor, meta: dict, output_file: str | os.PathLike,
                 opset_version: int | None = None, dynamic: bool = False, raw: bool = False,
                 simplify: bool = False, verbose: bool = False) -> ExportResult:
    """Trace ``model`` on ``img`` and write the ONNX graph to ``output_file`` (atomically)."""
    export_module = build_export_module(model, raw=raw, dynamic=dynamic).eval()
    opset = choose_opset(model, opset_version)
    inputs: tuple[torch.Tensor, ...] = (img,)
    input_names = ["input"]
    if isinstance(export_module, TwoStageRawExport):
        inputs += (example_rois(model, img, meta),)
        input_names.append("rois")
    with torch.no_grad(), export_friendly(model):
        outputs = export_module(*inputs)
    names = output_names(export_module, outputs)
    dynamic_axes = _dynamic_axes(names, input_names, dynamic, raw)
    out = Path(output_file)
    with atomic_path(out) as tmp:
        with torch.no_grad(), export_friendly(model), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            _run_exporter(export_module, inputs, str(tmp), opset, input_names, names, dynamic_axes, verbose)
        if simplify:
            simplify_in_place(str(tmp))
    return ExportResult(out, opset, input_names, names, dynamic, raw, _trace_warnings(caught))


def _dynamic_axes(names: list[str], input_names: list[str], dynamic: bool, raw: bool) -> dict:
    axes: dict[str, dict[int, str]] = {}
    if dynamic:
        axes["input"] = {2: "height", 3: "width"}
    if "rois" in input_names:
        axes["rois"] = {0: "num_rois"}
    if not raw:  # the number of detections always depends on the image
        for name in names:
            axes[name] = {1: "num_dets"}
        if dynamic and "masks" in axes:
            axes["masks"].update({2: "height", 3: "width"})
    return axes


@contextlib.contextmanager
def _captured_stdout() -> Iterator[dict]:
    """Collect what is written to file descriptor 1 (C++ included) into ``holder['text']``.

    On a failed conversion the exporter dumps the whole TorchScript graph to stdout (its log
    switch reads as always on); that dump is where the failing operator's module scope is.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    holder: dict = {"text": ""}
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield holder
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            holder["text"] = tmp.read().decode(errors="replace")


def _run_exporter(export_module, inputs, path, opset, input_names, names, dynamic_axes, verbose) -> None:
    try:
        with _captured_stdout() as printed:
            torch.onnx.export(export_module, inputs, path, dynamo=False, opset_version=opset,
                              input_names=input_names, output_names=names, dynamic_axes=dynamic_axes or None,
                              do_constant_folding=True, verbose=verbose)
    except torch.onnx.errors.UnsupportedOperatorError as err:
        raise ExportBlockedError(_unsupported_operator_line(f"{err}\n{printed['text']}", opset),
                                 hint="replace that operation in the module, or export without it") from None
    if verbose:  # the graph torch printed (--show)
        sys.stdout.write(printed["text"])


_OP_RE = re.compile(r"operator '([\w:.]+)'")


def _unsupported_operator_line(message: str, opset: int) -> str:
    """One line naming the operator and the module that calls it, read from the exporter's graph dump."""
    match = _OP_RE.search(message)
    op = match.group(1) if match else "an operator"
    module = None
    for line in message.splitlines():
        if f"= {op}(" in line and "scope:" in line:
            module = module_from_scope(line.split("scope:", 1)[1].split("#", 1)[0].strip())
            break
    where = f" in {module}" if module else ""
    return f"cannot export to ONNX: {op}{where} has no ONNX equivalent at opset {opset}"


def module_from_scope(scope: str) -> str | None:
    """``'pkg.Wrapper::/pkg.ResNet::detector.backbone/...'`` -> ``'backbone (ResNet)'`` (innermost module)."""
    parts = [p for p in scope.split("/") if "::" in p]
    if not parts:
        return None
    qualname, path = parts[-1].rsplit("::", 1)
    path = path.removeprefix("detector.").removeprefix("detector")
    return f"{path or 'model'} ({qualname.rsplit('.', 1)[-1]})"


def _trace_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """Tracer warnings raised by model code (not torch's own), as ``file:line: message`` (deduplicated)."""
    torch_dirs = tuple(str(Path(mod.__file__).parent) for mod in (torch, _torchvision()))
    seen: dict[str, None] = {}
    for item in caught:
        if not issubclass(item.category, torch.jit.TracerWarning) or str(item.filename).startswith(torch_dirs):
            continue
        text = str(item.message).split(". ")[0]
        seen[f"{item.filename}:{item.lineno}: {text}"] = None
    return list(seen)


def _torchvision():
    import torchvision

    return torchvision


def simplify_in_place(path: str | os.PathLike) -> None:
    """Run onnxsim on the file (an optional extra)."""
    try:
        import onnxsim
    except ImportError:
        raise ExportError("--simplify needs onnxsim, which is not installed",
                          hint="pip install onnxsim  (or pip install 'detcli[onnxsim]')") from None
    import onnx

    simplified, ok = onnxsim.simplify(onnx.load(str(path)))
    if not ok:
        raise ExportError("onnxsim could not check the simplified model", hint="export without --simplify")
    onnx.save(simplified, str(path))
