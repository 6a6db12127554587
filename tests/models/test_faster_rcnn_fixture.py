"""Two-stage detectors against reference fixtures made by mmdetection 2.28 itself.

For every fixture folder of a two-stage detector (``config.py``, ``model.pth``,
``inputs/*.png``, ``outputs.json``; see ``reference_fixtures``): the state dict has exactly the reference's keys and shapes, and
inference through the config's own test pipeline reproduces every reference detection
(same class, IoU > 0.99, |score diff| < 1e-3) and, where the fixture has masks, every
mask pixel — but for a few pixels on the reference mask's edge (at most 2, or 0.5 % of the
mask), where the pasted probability sits at the 0.5 threshold and the last float bits decide
(cascades average three heads' masks there; a 1e-6 change of the input flips such pixels in
either program, and so does running the convolutions channels-last).

On the opt-in fast inference path (``--fuse-conv-bn`` and ``channels_last = True``), every BatchNorm that
follows a plain convolution is gone and the neck's features stay those of the model as built (relative
difference < 5e-3). The tiny fixtures have random weights and random BatchNorm statistics, so some of
them amplify rounding: a 1e-6 relative change of the input image moves their features by 1e-5 to
4e-4 and changes which near-tied proposals survive. Where it moves them by less than 5e-6, the
prepared model must give every reference box, and 95 % of the reference masks (random-weight mask
heads leave whole regions near the 0.5 threshold, so one mask may differ by a few dozen pixels).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_fixtures import REFS, fixture_dirs, match_boxes, read_state_dict_keys

FIXTURES = fixture_dirs(("FasterRCNN", "MaskRCNN", "CascadeRCNN", "HybridTaskCascade", "GridRCNN", "SCNet"))
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"no two-stage reference fixtures under {REFS}")


def _build(fixture: Path, prepared: bool = False):
    """The model as built and loaded (``prepared``: then made ready for the opt-in fast inference path:
    BatchNorms folded into the convolutions, channels-last)."""
    from detcli.config import Config
    from detcli.engine.checkpoint import load_checkpoint
    from detcli.engine.inference_setup import prepare_for_inference
    from detcli.models import build_detector

    cfg = Config.fromfile(str(fixture / "config.py"))
    model = build_detector(cfg.model)
    load_checkpoint(model, str(fixture / "model.pth"), map_location="cpu")
    if prepared:
        cfg.channels_last = True
        return cfg, prepare_for_inference(model, cfg, "cpu", fuse_conv_bn=True)
    return cfg, model.eval()


def _infer(cfg, model, image_path: Path, perturb: float = 0.0, features: bool = False):
    """Detections of one image (``perturb``: the normalised image scaled by 1 + perturb first;
    ``features``: the neck's outputs instead)."""
    from detcli.data import Compose, collate

    pipeline = Compose(cfg.data.test.pipeline)
    data = pipeline(dict(img_info=dict(filename=str(image_path)), img_prefix=None))
    batch = collate([data])
    if perturb:
        batch["img"] = [img * (1 + perturb) for img in batch["img"]]
    with torch.no_grad():
        if features:
            return model.extract_feat(batch["img"][0])
        return model(return_loss=False, rescale=True, **batch)[0]


def _edge(mask: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of the other value."""
    padded = np.pad(mask, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    return ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
            | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))


def _masks_agree(ref: np.ndarray, ours: np.ndarray) -> bool:
    differ = ref != ours
    return int(differ.sum()) <= max(2, 0.005 * ref.sum()) and not (differ & ~_edge(ref)).any()


def test_state_dict_keys_and_shapes_match_the_reference():
    for fixture in FIXTURES:
        _, model = _build(fixture)
        expected = read_state_dict_keys(fixture / "state_dict_keys.txt")
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert sorted(set(expected) - set(ours)) == [], f"{fixture.name}: missing keys"
        assert sorted(set(ours) - set(expected)) == [], f"{fixture.name}: unexpected keys"
        assert {k: v for k, v in ours.items() if expected[k] != v} == {}, f"{fixture.name}: shapes differ"


def _mismatch(fixture: Path, cfg, model, mask_share: float = 1.0, detect=None) -> str | None:
    """What differs from the reference detections (boxes, then fewer than ``mask_share`` of the masks
    agreeing), or None. ``detect(image_path)`` replaces the config's test pipeline + ``model``."""
    from pycocotools import mask as mask_utils

    reference = json.loads((fixture / "outputs.json").read_text())
    total = matched = 0
    mask_total = mask_equal = 0
    for name, expected in reference["images"].items():
        image = fixture / "inputs" / name
        result = detect(image) if detect else _infer(cfg, model, image)
        bbox_result, segm_result = result if isinstance(result, tuple) else (result, None)
        assert len(bbox_result) == len(reference["classes"])
        for cls, ref_boxes in enumerate(expected["bboxes"]):
            ref = np.asarray(ref_boxes, dtype=np.float64).reshape(-1, 5)
            ours = np.asarray(bbox_result[cls], dtype=np.float64).reshape(-1, 5)
            if len(ours) != len(ref):
                return f"{name} class {cls}: {len(ours)} boxes, reference {len(ref)}"
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
                    mask_equal += int(_masks_agree(ref_mask, np.asarray(segm_result[cls][j], dtype=bool)))
    if matched != total:
        return f"{matched}/{total} reference boxes matched"
    if mask_equal < mask_share * mask_total:
        return f"{mask_equal}/{mask_total} masks identical"
    if "masks" in next(iter(reference["images"].values())) and not mask_total >= matched > 0:
        return f"{mask_total} masks compared for {matched} boxes"
    return None


def _batchnorms_after_other_convs(model: torch.nn.Module) -> int:
    """BatchNorms whose preceding sibling is not a plain ``nn.Conv2d`` (deformable convs...): not folded."""
    count = 0
    for parent in model.modules():
        previous = None
        for child in parent.children():
            if isinstance(child, torch.nn.BatchNorm2d) and type(previous) is not torch.nn.Conv2d:
                count += 1
            previous = child
    return count


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_detections_match_the_reference(fixture):
    cfg, model = _build(fixture)
    problem = _mismatch(fixture, cfg, model)
    assert problem is None, f"{fixture.name}: {problem}"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_init_detector_at_its_defaults_gives_the_reference_detections(fixture):
    """The path users take by default (NCHW, BatchNorm kept): exact even where rounding is amplified."""
    from detcli.apis import inference_detector, init_detector

    model = init_detector(str(fixture / "config.py"), str(fixture / "model.pth"), device="cpu")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    problem = _mismatch(fixture, model.cfg, model, detect=lambda image: inference_detector(model, str(image)))
    assert problem is None, f"{fixture.name} through init_detector: {problem}"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_prepared_for_inference_keeps_the_detections(fixture):
    cfg, built = _build(fixture)
    kept = _batchnorms_after_other_convs(built)
    _, prepared = _build(fixture, prepared=True)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in prepared.modules()) == kept
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in prepared.modules()
               if isinstance(m, torch.nn.Conv2d))
    image = next((fixture / "inputs").iterdir())
    built_features = _infer(cfg, built, image, features=True)
    for ours, theirs in zip(_infer(cfg, prepared, image, features=True), built_features):
        assert ((ours - theirs).abs().max() / theirs.abs().max()).item() < 5e-3
    moved = max(((a - b).abs().max() / b.abs().max()).item()
                for a, b in zip(_infer(cfg, built, image, perturb=1e-6, features=True), built_features))
    if moved < 5e-6:  # the model does not amplify rounding: its detections must survive the folding
        problem = _mismatch(fixture, cfg, prepared, mask_share=0.95)
        assert problem is None, f"{fixture.name}, prepared for inference: {problem}"
