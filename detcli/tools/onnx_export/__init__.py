"""ONNX export of detectors (``det pytorch2onnx``) and its check in ONNX Runtime.

- ``wrappers``: the module traced per detector family, and which models cannot export;
- ``traceable_ops`` / ``dense_head_export`` / ``roi_head_export``: the test-time
  post-processing (top-k, NMS, RoI pooling, mask pasting) written for the tracer;
- ``export``: opset choice and ``torch.onnx.export``; ``verify``: ONNX Runtime vs PyTorch;
- ``example_input``: the image the model is traced and checked on;
- ``pytorch2onnx``: the command's flow.

The model's own code is not changed for the export: the exporter reproduces its numbers
with graph-friendly operations, and the tests hold both to the same results.
"""

from .export import ExportError, ExportResult, export_model, required_opset
from .pytorch2onnx import run_pytorch2onnx
from .verify import Tolerance, VerificationError
from .wrappers import ExportBlockedError, build_export_module

__all__ = ["ExportBlockedError", "ExportError", "ExportResult", "Tolerance", "VerificationError",
           "build_export_module", "export_model", "required_opset", "run_pytorch2onnx"]
