"""Single-stage detectors against the reference fixtures made by mmdetection 2.28 itself.

Every fixture directory under the shared refs whose config builds a single-stage detector
(RetinaNet, ...) or an RPN is checked: exact state_dict keys and shapes, every reference
detection reproduced through the config's own test pipeline (same class, IoU > 0.99,
|score diff| < 1e-3), and, where the fixture has ``losses.json``, every training loss
(relative 1e-3). The faster_rcnn fixture's backbone/neck/rpn_head keys are checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_fixtures import IN_REPO, REFS, fixture_dirs, loss_batch, match_boxes, read_state_dict_keys

FIXTURES = fixture_dirs(("RetinaNet", "RPN"))
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"no RetinaNet/RPN reference fixtures under {REFS}")


def _build(fixture: Path, load: bool = True):
    from detcli.config import Config
    from detcli.engine.checkpoint import load_checkpoint
    from detcli.models import build_detector

    cfg = Config.fromfile(str(fixture / "config.py"))
    model = build_detector(cfg.model)
    if load:
        ckpt = load_checkpoint(model, str(fixture / "model.pth"), map_location="cpu", strict=True)
        model.CLASSES = tuple(ckpt["meta"]["CLASSES"])
    return cfg, model


def _infer(cfg, model, image_path: Path):
    from detcli.data import Compose, collate

    sample = Compose(cfg.data.test.pipeline)(dict(img_info=dict(filename=str(image_path)), img_prefix=None))
    with torch.no_grad():
        return model(return_loss=False, rescale=True, **collate([sample]))[0]


def _per_class(result, ref_boxes) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Align ours and the reference as lists over classes of (n, 5) arrays (RPN: one 'class')."""
    if isinstance(result, np.ndarray):  # RPN proposals
        ours = [result]
        refs = [np.asarray(ref_boxes, dtype=np.float32).reshape(-1, 5)]
        if refs[0].size and np.asarray(ref_boxes, dtype=object).ndim == 3:
            refs = [np.concatenate([np.asarray(c, np.float32).reshape(-1, 5) for c in ref_boxes])]
        return ours, refs
    bbox_result = result[0] if isinstance(result, tuple) else result
    return list(bbox_result), [np.asarray(c, dtype=np.float32).reshape(-1, 5) for c in ref_boxes]


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_state_dict_matches_the_reference_exactly(fixture):
    _, model = _build(fixture, load=False)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == read_state_dict_keys(fixture / "state_dict_keys.txt")


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_inference_reproduces_every_reference_detection(fixture):
    cfg, model = _build(fixture)
    model.eval()
    reference = json.loads((fixture / "outputs.json").read_text())
    assert tuple(reference["classes"]) == tuple(model.CLASSES)
    total = matched = 0
    for name, expected in reference["images"].items():
        result = _infer(cfg, model, fixture / "inputs" / name)
        ours, refs = _per_class(result, expected["bboxes"])
        assert len(ours) == len(refs)
        for cls_ours, cls_ref in zip(ours, refs):
            assert cls_ours.dtype == np.float32 and cls_ours.shape[1] == 5
            total += len(cls_ref)
            matched += int((match_boxes(cls_ref, cls_ours) >= 0).sum())
            assert len(cls_ours) >= len(cls_ref) - 2  # a few NMS ties at most
    assert total > 0
    assert matched >= total - max(2, total // 100), f"{fixture.name}: {matched}/{total} reference boxes matched"


@pytest.mark.parametrize("fixture", [f for f in FIXTURES if (f / "losses.json").is_file()], ids=lambda p: p.name)
def test_training_losses_match_the_reference(fixture):
    spec = json.loads((fixture / "losses.json").read_text())
    _, model = _build(fixture)
    model.train()
    batch = loss_batch(fixture / spec.get("batch", "../loss_batch.npz"))
    if type(model).__name__ == "RPN":
        batch.pop("gt_labels")
    losses = model(return_loss=True, **batch)
    for name, expected in spec["losses"].items():
        got = losses[name]
        got = [v.item() for v in got] if isinstance(got, (list, tuple)) else [got.item()]
        expected = expected if isinstance(expected, list) else [expected]
        assert got == pytest.approx(expected, rel=1e-3, abs=1e-6), name


FASTER = IN_REPO / "mask_rcnn_tiny"  # a two-stage reference made by mmdetection 2.28, in the repository


def test_rpn_from_a_two_stage_config_has_its_keys():
    from detcli.config import Config
    from detcli.engine.checkpoint import load_checkpoint
    from detcli.models import build_detector

    cfg = Config.fromfile(str(FASTER / "config.py"))
    m = cfg.model
    rpn = build_detector(dict(type="RPN", backbone=m.backbone, neck=m.neck, rpn_head=m.rpn_head,
                              train_cfg=m.train_cfg, test_cfg=m.test_cfg))
    reference = {k: v for k, v in read_state_dict_keys(FASTER / "state_dict_keys.txt").items()
                 if k.split(".")[0] in ("backbone", "neck", "rpn_head")}
    assert {k: tuple(v.shape) for k, v in rpn.state_dict().items()} == reference
    load_checkpoint(rpn, str(FASTER / "model.pth"))  # the roi_head part is simply unexpected
    img = torch.randn(1, 3, 64, 96)
    meta = dict(img_shape=(60, 90, 3), ori_shape=(120, 180, 3), pad_shape=(64, 96, 3), flip=False,
                scale_factor=np.array([0.5, 0.5, 0.5, 0.5], dtype=np.float32))
    with torch.no_grad():
        proposals = rpn.eval()(return_loss=False, rescale=True, img=[img], img_metas=[[meta]])[0]
    assert isinstance(proposals, np.ndarray) and proposals.shape[1] == 5
    assert 0 < len(proposals) <= cfg.model.test_cfg.rpn.max_per_img
    assert proposals[:, [0, 2]].max() <= 180 and proposals[:, [1, 3]].max() <= 120  # back in original pixels
    assert np.all(np.diff(proposals[:, 4]) <= 0)
