"""``det test`` end to end: a tiny Mask R-CNN trained a few iterations on generated shapes.

One process and two processes must give identical results; metrics must equal
pycocotools' own numbers on the saved results; the guide's flag spellings work.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detcli.cli import main

CONFIG = '''
_base_ = ['{root}/configs/_base_/models/mask_rcnn_r50_fpn.py', '{root}/configs/_base_/datasets/shapes_instance.py']
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None, norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=4),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=4)),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100), rcnn=dict(score_thr=0.0, max_per_img=20)))
data_root = '{data}/'
data = dict(
    workers_per_gpu=0,
    train=dict(ann_file=data_root + 'annotations/instances_train.json', img_prefix=data_root + 'train/'),
    test=dict(ann_file=data_root + 'annotations/instances_val.json', img_prefix=data_root + 'val/'))
'''


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(config, checkpoint, data dir) of a Mask R-CNN trained for 3 iterations."""
    from pathlib import Path

    from detcli.config import Config
    from detcli.data import build_dataloader, build_dataset
    from detcli.data.synthetic import generate_shapes
    from detcli.models import build_detector

    root = tmp_path_factory.mktemp("det_test")
    data = root / "shapes"
    generate_shapes(data, num_train=6, num_val=5, size=96, seed=0, voc=True)
    repo = Path(__file__).resolve().parents[2]
    config = root / "tiny_mask_rcnn.py"
    config.write_text(CONFIG.format(root=repo, data=data))
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    dataset = build_dataset(cfg.data.train)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    for batch in build_dataloader(dataset, 2, 0, shuffle=True, seed=0):
        loss = model.train_step(batch, optimizer)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    checkpoint = root / "tiny.pth"
    torch.save({"meta": {"CLASSES": dataset.CLASSES}, "state_dict": model.state_dict()}, checkpoint)
    return config, checkpoint, data


def _det_test(config, checkpoint, *args):
    return main(["test", str(config), str(checkpoint), "--device", "cpu", *map(str, args)])


def _load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _pycocotools_stats(ann_file, results, iou_type):
    """COCOeval on the saved results, converted here (not by detcli), with the 2.x parameters."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        cat_ids = gt.getCatIds(catNms=["circle", "square", "triangle", "star"])
        entries = []
        for img_id, (bbox_result, segm_result) in zip(gt.getImgIds(), results):
            for label, boxes in enumerate(bbox_result):
                for k, (x1, y1, x2, y2, score) in enumerate(boxes.tolist()):
                    e = {"image_id": img_id, "category_id": cat_ids[label], "score": score}
                    if iou_type == "bbox":
                        e["bbox"] = [x1, y1, x2 - x1, y2 - y1]
                    else:
                        rle = segm_result[label][k]
                        e["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
                    entries.append(e)
        ev = COCOeval(gt, gt.loadRes(entries), iou_type)
        ev.params.maxDets = [100, 300, 1000]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_one_and_two_processes_give_identical_results(trained, tmp_path):
    config, checkpoint, data = trained
    work = tmp_path / "work"
    assert _det_test(config, checkpoint, "--eval", "bbox", "segm", "--out", tmp_path / "r1.pkl",
                     "--work-dir", work, "--show-dir", tmp_path / "drawn") == 0
    single = _load(tmp_path / "r1.pkl")
    assert len(single) == 5 and all(isinstance(r, tuple) and len(r[0]) == 4 for r in single)
    assert sum(len(b) for r in single for b in r[0]) > 0  # the tiny model does detect things
    assert all(isinstance(m, dict) for r in single for cls in r[1] for m in cls)  # masks as RLE
    (metrics_file,) = work.glob("eval_*.json")
    metrics = json.loads(metrics_file.read_text())["metric"]
    for iou_type in ("bbox", "segm"):
        stats = _pycocotools_stats(data / "annotations/instances_val.json", single, iou_type)
        assert metrics[f"{iou_type}_mAP"] == round(float(stats[0]), 4)
        assert metrics[f"{iou_type}_mAP_50"] == round(float(stats[1]), 4)
    val_names = sorted(p.name for p in (data / "val").iterdir())
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == val_names

    assert _det_test(config, checkpoint, "--gpus", "2", "--out", tmp_path / "r2.pkl") == 0
    double = _load(tmp_path / "r2.pkl")
    assert len(double) == len(single)
    for (b1, s1), (b2, s2) in zip(single, double):
        for x, y in zip(b1, b2):
            np.testing.assert_array_equal(x, y)
        assert s1 == s2


def test_format_only_with_the_guides_options_spelling(trained, tmp_path, capsys):
    config, checkpoint, data = trained
    prefix = tmp_path / "sub" / "mask_rcnn_test-dev_results"
    assert _det_test(config, checkpoint, "--format-only", "--options", f"jsonfile_prefix={prefix}") == 0
    bbox = json.loads(prefix.with_name(prefix.name + ".bbox.json").read_text())
    segm = json.loads(prefix.with_name(prefix.name + ".segm.json").read_text())
    assert len(bbox) == len(segm) > 0
    assert set(bbox[0]) == {"image_id", "bbox", "score", "category_id"}
    assert isinstance(segm[0]["segmentation"]["counts"], str)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(data / "annotations/instances_val.json"))
        assert len(gt.loadRes(str(prefix) + ".segm.json").anns) == len(segm)
    assert "deprecated" in capsys.readouterr().err


def test_classwise_and_json_out(trained, tmp_path, capsys):
    config, checkpoint, _ = trained
    assert _det_test(config, checkpoint, "--eval", "bbox", "--eval-options", "classwise=True",
                     "--out", tmp_path / "dets.json") == 0
    out = capsys.readouterr().out
    assert "AP per category" in out and all(name in out for name in ("circle", "square", "triangle", "star"))
    dets = json.loads((tmp_path / "dets.json").read_text())
    assert dets and {"image_id", "bbox", "score", "category_id", "segmentation"} <= set(dets[0])


def test_voc_map_example(trained, tmp_path, capsys):
    """The guide's example 3 (``--eval mAP`` on Pascal VOC), on the VOC2007-format copy of the set."""
    config, checkpoint, data = trained
    voc = ["data.test.type=VOCDataset", f"data.test.ann_file={data}/VOC2007/ImageSets/Main/val.txt",
           f"data.test.img_prefix={data}/VOC2007/"]
    assert _det_test(config, checkpoint, "--eval", "mAP", "--out", tmp_path / "voc.pkl", "--cfg-options", *voc) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("circle", "square", "triangle", "star"))  # the per-class table
    tested = float(re.search(r"│ mAP\s*│\s*([0-9.]+)", out).group(1))
    assert main(["eval-metric", str(config), str(tmp_path / "voc.pkl"), "--eval", "mAP", "--cfg-options", *voc]) == 0
    again = float(re.search(r"│ mAP\s*│\s*([0-9.]+)", capsys.readouterr().out).group(1))
    assert tested == again and 0.0 <= tested <= 1.0
    assert len(_load(tmp_path / "voc.pkl")) == 5


def test_flag_mistakes_are_one_line(trained, tmp_path, capsys, monkeypatch):
    config, checkpoint, _ = trained
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    cases = [
        ([], "nothing to do"),
        (["--eval", "bbox", "--format-only"], "cannot both be given"),
        (["--out", tmp_path / "r.txt"], ".pkl"),
        (["--show", "--gpus", "2"], "single process"),
        (["--show"], "no display"),
        (["--eval", "mAP"], "'mAP' is not supported"),
    ]
    for args, needle in cases:
        capsys.readouterr()
        assert _det_test(config, checkpoint, *args) == 1
        err = capsys.readouterr().err
        assert needle in err.splitlines()[0] and "Traceback" not in err


def test_fuse_conv_bn_keeps_outputs():
    from detcli.models import build_backbone
    from detcli.tools.fuse_conv_bn import fuse_conv_bn

    torch.manual_seed(0)
    net = build_backbone(dict(type="ResNet", depth=18, base_channels=8, out_indices=(0, 1, 2, 3)))
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
        fused = fuse_conv_bn(net)
        after = fused(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)

    from detcli.models.layers import ConvModule

    block = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type="BN")).eval()
    block.bn.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        want = block(x)
        got = fuse_conv_bn(block)(x)
    assert isinstance(block.bn, torch.nn.Identity)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
