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
