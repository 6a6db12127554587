"""What ``det flops`` does: FLOPs and parameters of a detector on one input size.

The operators are counted by fvcore on a trace of the model's ``forward_dummy``, with
handlers that follow the conventions of mmcv's ``get_model_complexity_info`` (what
mmdetection's ``tools/analysis_tools/get_flops.py`` and its published figures use), so the
numbers compare with the model zoo:

- one multiply-add is one FLOP (convolutions, transposed convolutions, linear layers,
  matrix products); a convolution's bias adds one FLOP per output element;
- a normalisation layer costs one FLOP per input element, two with an affine transform;
- an activation (ReLU, LeakyReLU, ELU, PReLU, ReLU6) costs one FLOP per output element;
- a pooling layer costs one FLOP per input element;
- a deformable convolution (DCN, DCNv2) counts as the convolution it replaces, its kernel's
  multiply-adds (mmcv's counter skips it, which would make a DCN model look cheaper than the
  plain one); its bilinear sampling and DCNv2's mask product are not counted;
- element-wise additions and resizing (FPN's top-down path, residual sums) are not
  counted, as in mmcv; they are listed with every other operator that has no FLOP
  formula here (RoIAlign, sigmoid...), never hidden.

Parameters are those that train (``requires_grad``), as mmcv counts them; frozen ones
(``frozen_stages``) are reported besides.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from detcli.errors import ConfigError

DEFAULT_SHAPE = (1280, 800)
RULER = "=" * 30


# ---------------------------------------------------------------------------
# Operator handlers (fvcore's JIT handle signature: inputs, outputs -> count)
# ---------------------------------------------------------------------------
def _fvcore_nn() -> Any:
    """``fvcore.nn``, imported without the deprecation notice its focal loss's ``torch.jit.script`` prints."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")
        import fvcore.nn

    return fvcore.nn


def _shape(value: Any) -> list[int] | None:
    from fvcore.nn.jit_handles import get_shape

    return get_shape(value)


def _numel(value: Any) -> int:
    shape = _shape(value)
    return math.prod(shape) if shape is not None else 0


def _conv_with_bias(inputs: list, outputs: list) -> int:
    """Multiply-adds of the kernel, plus one add per output element when there is a bias."""
    from fvcore.nn.jit_handles import conv_flop_count

    x_shape, w_shape, out_shape = _shape(inputs[0]), _shape(inputs[1]), _shape(outputs[0])
    transposed = bool(inputs[6].toIValue())
    macs = conv_flop_count(x_shape, w_shape, out_shape, transposed=transposed)
    has_bias = _shape(inputs[2]) is not None
    return int(macs + (math.prod(out_shape) if has_bias else 0))


def _deform_conv(inputs: list, outputs: list) -> int:
    """``torchvision::deform_conv2d(input, weight, ...)``: the kernel's multiply-adds per output element."""
    weight_shape, out_shape = _shape(inputs[1]), _shape(outputs[0])
    return int(math.prod(out_shape) * math.prod(weight_shape[1:]))


def _norm(weight_index: int):
    """Input elements, twice when the layer has an affine weight (the argument at ``weight_index``)."""

    def count(inputs: list, outputs: list) -> int:
        affine = _shape(inputs[weight_index]) is not None
        return _numel(inputs[0]) * (2 if affine else 1)

    return count


def _output_elements(inputs: list, outputs: list) -> int:
    return _numel(outputs[0])


def _input_elements(inputs: list, outputs: list) -> int:
    return _numel(inputs[0])


def _named(name: str, count):
    """A handle that files its count under ``name`` (``conv`` rather than ``_convolution``)."""

    def handle(inputs: list, outputs: list) -> Counter:
        return Counter({name: count(inputs, outputs)})

    return handle


def mmcv_style_handles() -> dict[str, Any]:
    """fvcore operator handlers that count what mmcv's complexity counter counts, the way it does."""
    _fvcore_nn()
    from fvcore.nn.jit_handles import (
        addmm_flop_jit,
        bmm_flop_jit,
        einsum_flop_jit,
        linear_flop_jit,
        matmul_flop_jit,
    )

    handles: dict[str, Any] = {
        "aten::_convolution": _named("conv", _conv_with_bias),
        "torchvision::deform_conv2d": _named("deform_conv", _deform_conv),
        "aten::linear": linear_flop_jit,  # in_features * out_features per row; no bias, as mmcv
        "aten::addmm": addmm_flop_jit,
        "aten::matmul": matmul_flop_jit,
        "aten::mm": matmul_flop_jit,
        "aten::bmm": bmm_flop_jit,
        "aten::einsum": einsum_flop_jit,
        # aten::batch_norm(input, weight, bias, ...), group_norm(input, groups, weight, ...),
        # layer_norm(input, shape, weight, ...), instance_norm(input, weight, ...)
        "aten::batch_norm": _norm(1),
        "aten::group_norm": _norm(2),
        "aten::layer_norm": _norm(2),
        "aten::instance_norm": _norm(1),
    }
    for act in ("relu", "leaky_relu", "elu", "hardtanh", "prelu"):  # ReLU6 traces as hardtanh
        handles[f"aten::{act}"] = handles[f"aten::{act}_"] = _named(act, _output_elements)
    for dims in ("1d", "2d", "3d"):
        for pool in ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"):
            handles[f"aten::{pool}{dims}"] = _named(pool + dims, _input_elements)
        handles[f"aten::max_pool{dims}_with_indices"] = _named(f"max_pool{dims}", _input_elements)
    return handles


# ---------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------
@dataclass
class ModuleRow:
    """One line of the per-module table."""

    name: str
    depth: int
    params: int
    trainable_params: int
    flops: int


@dataclass
class FlopsReport:
    """Everything ``det flops`` prints (``--json`` prints ``asdict`` of it)."""

    input_shape: tuple[int, int, int]
    requested_shape: tuple[int, int, int]
    flops: int
    params: int
    params_total: int
    dummy_forward: str
    flops_by_operator: dict[str, int] = field(default_factory=dict)
    uncounted_ops: dict[str, int] = field(default_factory=dict)
    modules: list[ModuleRow] = field(default_factory=list)
    config: str | None = None
    size_divisor: int = 0

    @property
    def params_frozen(self) -> int:
        return self.params_total - self.params

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["requested_shape"] = list(self.requested_shape)
        out["params_frozen"] = self.params_frozen
        out["flops_str"] = format_flops(self.flops)
        out["params_str"] = format_params(self.params)
        return out


def input_shape_from(shape: Sequence[int] | None, size_divisor: int = 32) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(requested, padded)`` input shapes ``(3, h, w)`` from ``--shape H W`` or ``--shape S``.

    As in mmdetection's get_flops.py the two numbers are height then width, and a positive
    ``size_divisor`` rounds each up to a multiple of it (the padding the test pipeline does);
    0 or a negative one (mmdetection's ``-1``) leaves the shape as given.
    """
    shape = tuple(shape) if shape else DEFAULT_SHAPE
    if len(shape) == 1:
        h = w = int(shape[0])
    elif len(shape) == 2:
        h, w = (int(v) for v in shape)
    else:
        raise ConfigError(f"--shape takes one or two numbers (H W), got {len(shape)}: {list(shape)}",
                          hint="e.g. --shape 1280 800, or --shape 1024 for a square input")
    if h <= 0 or w <= 0:
        raise ConfigError(f"--shape must be positive, got {h} x {w}")
    requested = (3, h, w)
    if size_divisor > 0:
        h = math.ceil(h / size_divisor) * size_divisor
        w = math.ceil(w / size_divisor) * size_divisor
    return requested, (3, h, w)


def describe_dummy_forward(model: nn.Module) -> str:
    """What ``forward_dummy`` runs, in words (two-stage detectors use a fixed number of proposals)."""
    roi_head = getattr(model, "roi_head", None)
    if roi_head is None:
        return "backbone, neck and head outputs (no post-processing)"
    from detcli.models.detectors.two_stage import DUMMY_PROPOSALS
    from detcli.models.roi_heads.standard_roi_head import DUMMY_MASK_ROIS

    parts = ["RPN outputs" if getattr(model, "with_rpn", False) else "no RPN",
             f"RoI head on {DUMMY_PROPOSALS} fixed proposals"]
    if getattr(roi_head, "with_mask", False):
        parts.append(f"mask head on the first {DUMMY_MASK_ROIS}")
    return ", ".join(parts) + " (no post-processing)"


def count_model(model: nn.Module, input_shape: tuple[int, int, int], max_depth: int = 2,
                forward: str = "forward_dummy") -> FlopsReport:
    """Count ``model``'s FLOPs on one zero image of ``input_shape`` through its ``forward`` method name.

    ``model`` is put in eval mode; ``forward`` is swapped in for the trace and restored after.
    """
    FlopCountAnalysis = _fvcore_nn().FlopCountAnalysis  # noqa: N806 - a class

    method = getattr(model, forward, None)
    if method is None:
        raise ConfigError(f"{type(model).__name__} has no {forward}() to count FLOPs on",
                          hint="add a forward_dummy(img) that returns the raw head outputs")
    model.eval()
    try:
        first = next(model.parameters())
        dtype, device = first.dtype, first.device
    except StopIteration:
        dtype, device = torch.float32, torch.device("cpu")
    img = torch.zeros((1, *input_shape), dtype=dtype, device=device)
    had_own_forward = "forward" in vars(model)
    original = model.forward
    model.forward = method
    try:
        analysis = FlopCountAnalysis(model, (img,))
        analysis.clear_op_handles().set_op_handle(**mmcv_style_handles())
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        with torch.no_grad():
            try:
                total = int(analysis.total())
            except RuntimeError as err:  # torch.jit.trace could not follow the forward
                reason = " ".join(str(err).split())[:200] or type(err).__name__
                raise ConfigError(f"cannot trace {type(model).__name__}.{forward}() to count its FLOPs: {reason}",
                                  hint="the forward must take one image tensor and return tensors "
                                       "(tuples/lists of them); run with --debug for the traceback") from err
        by_operator = {k: int(v) for k, v in analysis.by_operator().most_common()}
        uncounted = dict(Counter(analysis.unsupported_ops()).most_common())
        by_module = analysis.by_module()
    finally:
        if had_own_forward:
            model.forward = original
        else:
            del model.forward
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    everything = sum(p.numel() for p in model.parameters())
    return FlopsReport(
        input_shape=tuple(input_shape), requested_shape=tuple(input_shape), flops=total, params=trainable,
        params_total=everything, dummy_forward=describe_dummy_forward(model), flops_by_operator=by_operator,
        uncounted_ops=uncounted, modules=module_rows(model, by_module, max_depth),
    )


def module_rows(model: nn.Module, flops_by_module: dict[str, int], max_depth: int) -> list[ModuleRow]:
    """Rows for the modules down to ``max_depth`` (the model itself is depth 0), skipping empty ones."""
    rows = []
    for name, module in model.named_modules():
        depth = 0 if not name else name.count(".") + 1
        if depth > max_depth:
            continue
        params = list(module.parameters())
        total = sum(p.numel() for p in params)
        flops = int(flops_by_module.get(name, 0))
        if name and not total and not flops:
            continue
        rows.append(ModuleRow(name=name or "model", depth=depth, params=total,
                              trainable_params=sum(p.numel() for p in params if p.requires_grad), flops=flops))
    return rows


def build_model_for_counting(config: str, cfg_options: dict[str, Any] | None = None) -> nn.Module:
    """The detector of ``config`` as mmdetection's get_flops.py builds it (no weights loaded)."""
    from detcli.config import load_config
    from detcli.models import build_detector

    cfg = load_config(config, cfg_options or {})
    if "model" not in cfg:
        raise ConfigError(f"config {config} has no 'model'", hint="is it a detector config?")
    return build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))


def run_flops(config: str, shape: Sequence[int] | None = None, cfg_options: dict[str, Any] | None = None,
              size_divisor: int = 32, max_depth: int = 2) -> FlopsReport:
    """FLOPs and parameters of ``config``'s detector on one input of ``shape`` (H W or S)."""
    requested, padded = input_shape_from(shape, size_divisor)
    model = build_model_for_counting(config, cfg_options)
    report = count_model(model, padded, max_depth=max_depth)
    report.requested_shape = requested
    report.config = str(config)
    report.size_divisor = size_divisor
    return report


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------
def format_flops(flops: float) -> str:
    """``239.32 GFLOPs`` (mmcv's unit; one multiply-add is one FLOP)."""
    return f"{flops / 1e9:.2f} GFLOPs"


def format_params(params: float) -> str:
    """``37.74 M`` / ``12.5 k`` / ``310``, as mmcv writes parameter counts."""
    if params >= 1e6:
        return f"{params / 1e6:.2f} M"
    if params >= 1e3:
        return f"{params / 1e3:.2f} k"
    return str(int(params))


def _short(count: float) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(int(count))


def summary_lines(report: FlopsReport) -> list[str]:
    """The block mmdetection's get_flops.py prints, then what was counted and what was not."""
    lines = []
    if report.requested_shape != report.input_shape:
        lines += [RULER, f"Use size divisor set input shape from {report.requested_shape} to {report.input_shape}"]
    lines += [
        RULER,
        f"Input shape: {report.input_shape}",
        f"Flops: {format_flops(report.flops)}",
        f"Params: {format_params(report.params)}",
        RULER,
        f"Params: {report.params:,} that train"
        + (f" ({report.params_total:,} in all, {report.params_frozen:,} frozen)" if report.params_frozen else ""),
        f"Forward: {report.dummy_forward}",
        "Counted (1 multiply-add = 1 FLOP): "
        + (", ".join(f"{op} {_short(n)}" for op, n in report.flops_by_operator.items()) or "nothing"),
    ]
    if report.uncounted_ops:
        ops = ", ".join(f"{op} x{n}" for op, n in report.uncounted_ops.items())
        lines.append(f"Not counted: {ops}")
    return lines


def module_table(report: FlopsReport) -> Any:
    """A rich table of parameters and FLOPs per module, indented by depth."""
    from rich.table import Table

    table = Table(title=f"FLOPs and parameters per module, input {report.input_shape}")
    table.add_column("module")
    table.add_column("params", justify="right")
    table.add_column("frozen", justify="right")
    table.add_column("FLOPs", justify="right")
    table.add_column("% FLOPs", justify="right")
    for row in report.modules:
        frozen = row.params - row.trainable_params
        share = f"{100 * row.flops / report.flops:.1f}" if report.flops else "-"
        table.add_row("  " * row.depth + row.name, format_params(row.params), format_params(frozen) if frozen else "",
                      f"{row.flops / 1e9:.3f} G", share)
    return table
