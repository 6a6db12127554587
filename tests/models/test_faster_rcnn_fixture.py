"""Two-stage detectors against reference fixtures made by mmdetection 2.28 itself.

For every fixture folder of a two-stage detector (``config.py``, ``model.pth``,
``inputs/*.png``, ``outputs.json``; see ``reference_fixtures``): the state dict has exactly the reference's keys and shapes, and
inference through the config's own test pipeline reproduces every reference detection
(same class, IoU > 0.99, |score diff| < 1e-3) and, where the fixture has masks, every
mask pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_fixtures import REFS, fixture_dirs, match_boxes, read_state_dict_keys

FIXTURES = fixture_dirs(("FasterRCNN", "MaskRCNN"))
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"no two-stage reference fixtures under {REFS}")


def _build(fixture: Path, prepared: bool = False):
    """The model as built and loaded (``prepared``: then made ready as init_detector/det test do:
    BatchNorms folded into the convolutions, channels-last)."""
    from detcli.config import Config
    from detcli.engine.checkpoint import load_checkpoint
    from detcli.engine.inference_setup import prepare_for_inference
    from detcli.models import build_detector

    cfg = Config.fromfile(str(fixture / "config.py"))
    model = build_detector(cfg.model)
    load_checkpoint(model, str(fixture / "model.pth"), map_location="cpu")
    if prepared:
        return cfg, prepare_for_inference(model, cfg, "cpu")
    return cfg, model.eval()


def _infer(cfg, model, image_path: Path):
    from detcli.data import Compose, collate

    pipeline = Compose(cfg.data.test.pipeline)
    data = pipeline(dict(img_info=dict(filename=str(image_path)), img_prefix=None))
    batch = collate([data])
    with torch.no_grad():
        return model(return_loss=False, rescale=True, **batch)[0]


def test_state_dict_keys_and_shapes_match_the_reference():
    for fixture in FIXTURES:
        _, model = _build(fixture)
        expected = read_state_dict_keys(fixture / "state_dict_keys.txt")
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert sorted(set(expected) - set(ours)) == [], f"{fixture.name}: missing keys"
        assert sorted(set(ours) - set(expected)) == [], f"{fixture.name}: unexpected keys"
        assert {k: v for k, v in ours.items() if expected[k] != v} == {}, f"{fixture.name}: shapes differ"


@pytest.mark.parametrize("prepared", [False, True], ids=["as-built", "prepared-for-inference"])
@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_detections_match_the_reference(fixture, prepared):
    from pycocotools import mask as mask_utils

    cfg, model = _build(fixture, prepared)
    if prepared:
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    reference = json.loads((fixture / "outputs.json").read_text())
    total = matched = 0
    mask_total = mask_equal = 0
    for name, expected in reference["images"].items():
        result = _infer(cfg, model, fixture / "inputs" / name)
        bbox_result, segm_result = result if isinstance(result, tuple) else (result, None)
        assert len(bbox_result) == len(reference["classes"])
        for cls, ref_boxes in enumerate(expected["bboxes"]):
            ref = np.asarray(ref_boxes, dtype=np.float64).reshape(-1, 5)
            ours = np.asarray(bbox_result[cls], dtype=np.float64).reshape(-1, 5)
            assert len(ours) == len(ref), f"{name} class {cls}: {len(ours)} boxes, reference {len(ref)}"
            found = match_boxes(ref, ours)
            total += len(ref)
            matched += int((found >= 0).sum())
            if "masks" in expected and segm_result is not None:
                for i, j in enumerate(found):
                    if j < 0:
                        continue
                    rle = dict(expected["masks"][cls][i])
                    if isinstance(rle["counts"], str):
                        rle["counts"] = rle["counts"].encode()
                    ref_mask = mask_utils.decode(rle).astype(bool)
                    mask_total += 1
                    mask_equal += int(np.array_equal(ref_mask, np.asarray(segm_result[cls][j], dtype=bool)))
    assert matched == total, f"{fixture.name}: {matched}/{total} reference boxes matched"
    assert mask_equal == mask_total, f"{fixture.name}: {mask_equal}/{mask_total} masks identical"
    if "masks" in next(iter(reference["images"].values())):
        assert mask_total >= matched > 0
