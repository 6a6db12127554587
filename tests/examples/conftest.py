"""Running the examples of examples/ as a user would: from a folder laid out like the repository
root (``data/shapes/`` generated once per session), with the example's folder on ``sys.path``
(the ``PYTHONPATH=examples/<folder>`` of its command), for one short epoch."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from example_runs import EXAMPLES, REPO, train  # noqa: E402


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """Where the examples' commands run: ``data/shapes`` (4 train / 2 val images, COCO json and the
    middle format) and a 4-frame video."""
    from detcli.data.synthetic import generate_shapes, generate_shapes_video

    root = tmp_path_factory.mktemp("examples_root")
    generate_shapes(root / "data" / "shapes", num_train=4, num_val=2, size=160, seed=3, middle=True)
    generate_shapes_video(root / "data" / "shapes_video.mp4", num_frames=4, size=160, seed=0)
    return root


def _registries() -> list:
    import detcli.registry as registry

    seen: dict[int, object] = {}
    for value in vars(registry).values():
        if isinstance(value, registry.Registry):
            seen.setdefault(id(value), value)
    return list(seen.values())


@pytest.fixture
def example(workspace, monkeypatch):
    """``example('custom_hook')``: run from the workspace with that folder importable.

    The examples register the guide's names (MyHook, MyLoss...), which other tests register
    too: while the test runs, the registries hold none of the example's class names, and its
    modules are imported afresh (and forgotten afterwards).
    """
    monkeypatch.chdir(workspace)
    imported: list[str] = []

    def use(folder: str) -> Path:
        path = EXAMPLES / folder
        names = {name for py in path.glob("*.py") for name in re.findall(r"^class (\w+)", py.read_text(), re.M)}
        for registry in _registries():
            kept = {k: v for k, v in registry.module_dict.items() if k not in names}
            monkeypatch.setattr(registry, "_module_dict", kept)
        for py in path.glob("*.py"):
            sys.modules.pop(py.stem, None)
            imported.append(py.stem)
        monkeypatch.syspath_prepend(str(path))
        return path

    yield use
    for name in imported:
        sys.modules.pop(name, None)


@pytest.fixture(scope="session")
def shapes_mask_rcnn(workspace, tmp_path_factory) -> Path:
    """The checkpoint of configs/shapes/mask_rcnn_r18_fpn_shapes.py after one short epoch (what
    `make demo` trains fully): the model the fine-tuning and inference examples start from."""
    work = tmp_path_factory.mktemp("shapes_mask_rcnn")
    previous = os.getcwd()
    os.chdir(workspace)  # the config's data/shapes/ paths are relative
    try:
        train(REPO / "configs/shapes/mask_rcnn_r18_fpn_shapes.py", work)
    finally:
        os.chdir(previous)
    return work / "latest.pth"
