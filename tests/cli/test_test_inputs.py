"""``det test`` on the inputs a new user brings: COCO test-dev's image-info file, a checkpoint of
another model, ``proposal_fast`` on Mask R-CNN results, and a model that detects nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from detcli.cli import main

REPO = Path(__file__).resolve().parents[2]
MASK_RCNN = '''
_base_ = ['{root}/configs/_base_/models/mask_rcnn_r50_fpn.py', '{root}/configs/_base_/datasets/shapes_instance.py']
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes={num_classes}),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes={num_classes})),
    test_cfg=dict(rpn=dict(nms_pre=100, max_per_img=50), rcnn=dict(score_thr=0.0, max_per_img=10)))
data_root = '{data}/'
data = dict(
    workers_per_gpu=0,
    test=dict(ann_file=data_root + 'annotations/instances_val.json', img_prefix=data_root + 'val/'))
'''
RETINANET = '''
_base_ = ['{root}/configs/_base_/models/retinanet_r50_fpn.py']
model = dict(backbone=dict(depth=18, base_channels=16, init_cfg=None),
             neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
             bbox_head=dict(num_classes=4, in_channels=32, feat_channels=32, stacked_convs=1))
'''


def _checkpoint(template: str, path: Path, data: Path, **fields) -> Path:
    """Write ``template`` as a config next to ``path`` and save a freshly built model of it at ``path``."""
    from detcli.config import Config
    from detcli.models import build_detector

    config = path.with_suffix(".py")
    config.write_text(template.format(root=REPO, data=data, **fields))
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    torch.save({"meta": {"CLASSES": ("circle", "square", "triangle", "star")}, "state_dict": model.state_dict()},
               path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(config, its checkpoint, data dir, another model's checkpoint, a 3-class Mask R-CNN checkpoint)."""
    from detcli.data.synthetic import generate_shapes

    root = tmp_path_factory.mktemp("det_test_inputs")
    data = root / "shapes"
    generate_shapes(data, num_train=1, num_val=3, size=64, seed=0)
    checkpoint = _checkpoint(MASK_RCNN, root / "mask_rcnn.pth", data, num_classes=4)
    retinanet = _checkpoint(RETINANET, root / "retinanet.pth", data)
    three_classes = _checkpoint(MASK_RCNN, root / "mask_rcnn_3cls.pth", data, num_classes=3)
    return checkpoint.with_suffix(".py"), checkpoint, data, retinanet, three_classes


def _det_test(config, checkpoint, *args):
    return main(["test", str(config), str(checkpoint), "--device", "cpu", *map(str, args)])


def test_format_only_on_coco_test_dev_image_info(setup, tmp_path, capsys):
    config, checkpoint, data, _, _ = setup
    coco = json.loads((data / "annotations/instances_val.json").read_text())
    info = tmp_path / "image_info_test-dev.json"  # what test-dev ships: images and categories only
    info.write_text(json.dumps({"images": coco["images"], "categories": coco["categories"]}))
    prefix = tmp_path / "mask_rcnn_test-dev_results"
    assert _det_test(config, checkpoint, "--format-only", "--cfg-options", f"data.test.ann_file={info}",
                     "--eval-options", f"jsonfile_prefix={prefix}") == 0
    bbox = json.loads(Path(f"{prefix}.bbox.json").read_text())
    segm = json.loads(Path(f"{prefix}.segm.json").read_text())
    assert {d["image_id"] for d in bbox} == {img["id"] for img in coco["images"]}
    assert len(segm) == len(bbox) == 3 * 10  # max_per_img detections on each image, score_thr 0
    assert {d["category_id"] for d in bbox} <= {c["id"] for c in coco["categories"]}
    assert f"wrote {prefix}.bbox.json" in capsys.readouterr().out

    assert _det_test(config, checkpoint, "--eval", "bbox", "--cfg-options", f"data.test.ann_file={info}") == 1
    err = capsys.readouterr().err.splitlines()
    assert "has no annotations" in err[0] and "--format-only" in err[1]


def test_a_checkpoint_of_another_model_is_refused_with_a_short_summary(setup, capsys, caplog):
    config, _, _, retinanet, _ = setup
    assert _det_test(config, retinanet, "--eval", "bbox") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {retinanet} fills only 0% of the model's weights")
    assert "(keys: 28 missing, 10 unexpected, 114 with another shape)" in err[0]
    assert "--allow-partial" in err[1]
    (warning,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loading ")]
    lines = warning.splitlines()
    assert len(lines) <= 4 and all(len(line) < 400 for line in lines)
    # names grouped by module with counts, not every key
    assert "missing in the checkpoint: roi_head.mask_head (12), roi_head.bbox_head (8)" in warning
    assert "bbox_head.retina_cls (2)" in warning and "retina_cls.weight" not in warning
    assert "other shapes (kept the model's): backbone.layer" in warning
    assert "e.g. backbone.conv1.weight (16, 3, 7, 7) vs model (8, 3, 7, 7)" in warning


def test_allow_partial_tests_anyway(setup, capsys):
    config, _, _, retinanet, _ = setup
    assert _det_test(config, retinanet, "--eval", "bbox", "--allow-partial") == 0
    assert "bbox_mAP" in capsys.readouterr().out


def test_a_checkpoint_with_other_class_layers_is_tested(setup, capsys, caplog):
    """Fine-tuned to another num_classes: only the class layers differ, so the test runs (with a warning)."""
    config, _, _, _, three_classes = setup
    assert _det_test(config, three_classes, "--eval", "bbox") == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loading ")]
    assert "roi_head.bbox_head.fc_cls.weight (4, 32) vs model (5, 32)" in warning
    assert "keys: 6 with another shape" in warning and "bbox_mAP" in capsys.readouterr().out


def test_proposal_fast_on_mask_rcnn_results_gives_recall_and_writes_the_metrics(setup, tmp_path, capsys):
    config, checkpoint, _, _, _ = setup
    work = tmp_path / "work"
    assert _det_test(config, checkpoint, "--eval", "bbox", "segm", "proposal_fast", "--work-dir", work) == 0
    (metrics_file,) = work.glob("eval_*.json")
    metrics = json.loads(metrics_file.read_text())["metric"]
    assert {"bbox_mAP", "segm_mAP", "AR@100", "AR@300", "AR@1000"} <= set(metrics)
    assert 0.0 <= metrics["AR@100"] <= 1.0


def test_no_detections_is_said_instead_of_an_empty_table(setup, capsys):
    config, checkpoint, _, _, _ = setup
    assert _det_test(config, checkpoint, "--eval", "bbox", "--cfg-options", "model.test_cfg.rcnn.score_thr=1.01") == 0
    out = capsys.readouterr().out
    assert "no detections: the bbox results of all 3 images are empty, no bbox metrics" in out
    assert "│" not in out and "metric " not in out  # no (empty) table
