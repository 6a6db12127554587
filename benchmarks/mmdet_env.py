"""Where the benchmarks find mmdetection 2.28 to compare with, and how its side is started.

mmdetection 2.28.2 + mmcv 1.7.2 live in their own interpreter (never a dependency of
detcli). It is found, in order: ``--mmdet-python``; ``$DETCLI_BENCH_MMDET_PYTHON``;
``<tmp>/ref/mmdetvenv/bin/python``; ``<tmp>/detcli-bench-mmdet/bin/python`` (a throw-away
venv that :func:`build_mmdet_venv` makes: mmcv 1.7.2 without compiled ops + mmdet 2.28.2,
reusing this interpreter's torch through a ``.pth`` file).

mmcv 1.7.2 without compiled ops cannot import ``mmcv.ops``, which ``mmdet.datasets``
imports indirectly; for work that never calls an op (the data pipeline) the side process
installs :func:`install_ext_placeholder` first. Training needs the real ops: an mmcv-full
build with its C++ CPU kernels (``has_compiled_ops`` tells).

This file is imported by both interpreters: the standard library only at the top.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ENV_VAR = "DETCLI_BENCH_MMDET_PYTHON"
THROWAWAY = Path(tempfile.gettempdir()) / "detcli-bench-mmdet"


def find_mmdet_python(explicit: str | None = None) -> str | None:
    """The first interpreter that imports mmdet 2.x, or None."""
    candidates = [explicit, os.environ.get(ENV_VAR), str(Path(tempfile.gettempdir()) / "ref/mmdetvenv/bin/python"),
                  str(THROWAWAY / "bin" / "python")]
    for python in candidates:
        if not python or not Path(python).is_file():
            continue
        probe = subprocess.run([python, "-c", "import mmdet, mmcv; print(mmdet.__version__, mmcv.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip().startswith("2."):
            return python
    return None


def build_mmdet_venv() -> str:
    """Make the throw-away venv (mmcv 1.7.2 lite + mmdet 2.28.2 from PyPI); returns its python."""
    import site

    subprocess.run([sys.executable, "-m", "venv", str(THROWAWAY)], check=True)
    python = THROWAWAY / "bin" / "python"
    site_dir = next(Path(THROWAWAY / "lib").glob("python3*/site-packages"))
    ours = [p for p in site.getsitepackages() if Path(p, "torch").is_dir()]
    (site_dir / "detcli_bench_torch.pth").write_text("\n".join(ours) + "\n")  # reuse torch, numpy, cv2 ...
    env = dict(os.environ, MMCV_WITH_OPS="0")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "addict", "yapf==0.32.0", "terminaltables",
                    "packaging"], check=True, env=env)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "mmcv==1.7.2", "mmdet==2.28.2"], check=True, env=env)
    return str(python)


def has_compiled_ops(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import mmcv._ext"], capture_output=True)
    return probe.returncode == 0


def install_ext_placeholder() -> None:
    """A stand-in ``mmcv._ext`` whose every attribute raises when called: lets ``mmcv.ops`` import."""
    try:
        import mmcv._ext  # noqa: F401
        return
    except ImportError:
        pass

    def missing(name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*_args, **_kwargs):
            raise RuntimeError(f"mmcv._ext.{name} was called, but this benchmark's mmcv has no compiled ops")
        return call

    module = types.ModuleType("mmcv._ext")
    module.__getattr__ = missing  # type: ignore[attr-defined]
    sys.modules["mmcv._ext"] = module


# ---- mmcv's own C++ CPU kernels for nms and RoIAlign, built alone ----------------------------
# What a Mask R-CNN / Faster R-CNN training calls in mmcv.ops: nms (RPN proposals) and
# roi_align forward/backward (box and mask RoI features, mask targets). Built from the
# mmcv 1.7.2 source distribution's csrc files into a module of its own, bound with the
# argument names mmcv's Python side passes.
_BINDINGS = r'''
#include <torch/extension.h>
using at::Tensor;
Tensor nms(Tensor boxes, Tensor scores, float iou_threshold, int offset);
void roi_align_forward(Tensor input, Tensor rois, Tensor output, Tensor argmax_y, Tensor argmax_x,
                       int aligned_height, int aligned_width, float spatial_scale, int sampling_ratio,
                       int pool_mode, bool aligned);
void roi_align_backward(Tensor grad_output, Tensor rois, Tensor argmax_y, Tensor argmax_x, Tensor grad_input,
                        int aligned_height, int aligned_width, float spatial_scale, int sampling_ratio,
                        int pool_mode, bool aligned);
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"), py::arg("offset"));
  m.def("roi_align_forward", &roi_align_forward, py::arg("input"), py::arg("rois"), py::arg("output"),
        py::arg("argmax_y"), py::arg("argmax_x"), py::arg("aligned_height"), py::arg("aligned_width"),
        py::arg("spatial_scale"), py::arg("sampling_ratio"), py::arg("pool_mode"), py::arg("aligned"));
  m.def("roi_align_backward", &roi_align_backward, py::arg("grad_output"), py::arg("rois"),
        py::arg("argmax_y"), py::arg("argmax_x"), py::arg("grad_input"), py::arg("aligned_height"),
        py::arg("aligned_width"), py::arg("spatial_scale"), py::arg("sampling_ratio"), py::arg("pool_mode"),
        py::arg("aligned"));
}
'''
OPS_DIR = THROWAWAY / "mmcv_core_ops"
OPS_NAME = "mmcv_core_ops"


def mmcv_sources() -> Path:
    """mmcv 1.7.2's unpacked source tree (fetched with pip into the throw-away folder when missing)."""
    for root in (Path(tempfile.gettempdir()) / "ref/src/mmcv-1.7.2", THROWAWAY / "src/mmcv-1.7.2"):
        if (root / "mmcv/ops/csrc/pytorch/cpu/roi_align.cpp").is_file():
            return root
    import tarfile

    dest = THROWAWAY / "src"
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    "mmcv==1.7.2", "-d", str(dest)], check=True)
    with tarfile.open(next(dest.glob("mmcv-1.7.2.tar.gz"))) as tar:
        tar.extractall(dest, filter="data")
    return dest / "mmcv-1.7.2"


def build_core_ops(python: str) -> Path:
    """Compile nms + roi_align (mmcv 1.7.2's CPU kernels) with ``python``'s torch; returns the folder of the .so."""
    if list(OPS_DIR.glob(f"{OPS_NAME}*.so")):
        return OPS_DIR
    csrc = mmcv_sources() / "mmcv/ops/csrc"
    OPS_DIR.mkdir(parents=True, exist_ok=True)
    (OPS_DIR / "bindings.cpp").write_text(_BINDINGS)
    sources = [OPS_DIR / "bindings.cpp"]
    for src, name in (("nms.cpp", "nms_api.cpp"), ("roi_align.cpp", "roi_align_api.cpp"),
                      ("cpu/nms.cpp", "nms_cpu.cpp"), ("cpu/roi_align.cpp", "roi_align_cpu.cpp")):
        (OPS_DIR / name).write_text((csrc / "pytorch" / src).read_text())  # distinct names: one object each
        sources.append(OPS_DIR / name)
    script = (
        "import sys; from torch.utils.cpp_extension import load\n"
        f"load({OPS_NAME!r}, {[str(s) for s in sources]!r}, extra_include_paths={[str(csrc / 'common')]!r}, "
        f"extra_cflags=['-O3'], build_directory={str(OPS_DIR)!r}, verbose=True)\n"
    )
    subprocess.run([python, "-c", script], check=True)
    return OPS_DIR


def install_core_ops(ops_dir: Path) -> None:
    """``mmcv._ext`` = the compiled nms/roi_align, with placeholders for every other op (never called)."""
    import importlib.util

    so = next(ops_dir.glob(f"{OPS_NAME}*.so"))
    spec = importlib.util.spec_from_file_location(OPS_NAME, so)
    compiled = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compiled)
    install_ext_placeholder()
    proxy = sys.modules["mmcv._ext"]
    for name in ("nms", "roi_align_forward", "roi_align_backward"):
        setattr(proxy, name, getattr(compiled, name))
