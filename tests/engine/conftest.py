"""Engine tests share toy models and datasets from ``engine_toys`` (importable by spawned workers too)."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ["PYTHONPATH"] = os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
os.environ.setdefault("DETCLI_NO_PROGRESS", "1")
