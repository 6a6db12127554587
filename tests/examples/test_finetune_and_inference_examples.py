"""The guide's chapter 十 (fine-tuning from a trained model with new classes) and its inference code
(一.2, 二.1.1, 二.1.2), run on the shapes Mask R-CNN trained for one short epoch."""

from __future__ import annotations

import asyncio
import runpy
import sys

import cv2
import torch
from example_runs import EXAMPLES, REPO, train

from detcli.apis import VideoReader


def test_finetune_from_a_trained_model_to_two_classes(example, shapes_mask_rcnn, tmp_path):
    folder = example("finetune")
    work = tmp_path / "work"
    runner = train(folder / "mask_rcnn_r18_fpn_finetune_2cls_shapes.py", work, load_from=str(shapes_mask_rcnn))
    assert tuple(runner.data_loader.dataset.CLASSES) == ("triangle", "star")
    before = torch.load(shapes_mask_rcnn, map_location="cpu", weights_only=True)["state_dict"]
    after = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)
    state = after["state_dict"]
    assert tuple(after["meta"]["CLASSES"]) == ("triangle", "star")
    # the class-specific layers have the new shapes...
    assert before["roi_head.bbox_head.fc_cls.weight"].shape[0] == 5 and state["roi_head.bbox_head.fc_cls.weight"].shape[0] == 3
    assert state["roi_head.bbox_head.fc_reg.weight"].shape[0] == 2 * 4
    assert state["roi_head.mask_head.conv_logits.weight"].shape[0] == 2
    # ...the rest started from the checkpoint: two warmup steps at lr ~1e-5 move the weights very little
    for key in ("backbone.conv1.weight", "neck.fpn_convs.0.conv.weight", "rpn_head.rpn_conv.weight",
                "roi_head.bbox_head.shared_fcs.0.weight", "roi_head.mask_head.convs.0.conv.weight"):
        assert torch.allclose(state[key], before[key], atol=1e-3), key
    assert type(runner.optimizer) is torch.optim.SGD and runner.optimizer.defaults["lr"] == 0.01


def run_script(path, *args, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
    return runpy.run_path(str(path), run_name="__main__")


def test_verify_install_script(example, capsys, monkeypatch):
    example("inference")
    run_script(EXAMPLES / "inference/verify_install.py", "--config", REPO / "configs/shapes/mask_rcnn_r18_fpn_shapes.py",
               "--img", "data/shapes/val/000000.png", monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "detcli works: MaskRCNN returned 4 per-class box arrays" in out


def test_image_and_video_demo_writes_its_drawings(example, shapes_mask_rcnn, workspace, tmp_path, capsys,
                                                  monkeypatch):
    example("inference")
    out_dir = tmp_path / "out"
    run_script(EXAMPLES / "inference/image_and_video_demo.py", "--checkpoint", shapes_mask_rcnn,
               "--config", REPO / "configs/shapes/mask_rcnn_r18_fpn_shapes.py", "--out-dir", out_dir,
               "--score-thr", "0", monkeypatch=monkeypatch)
    assert f"wrote {out_dir}/result.jpg and {out_dir}/result.mp4 (4 frames)" in capsys.readouterr().out
    drawn, source = cv2.imread(str(out_dir / "result.jpg")), cv2.imread(str(workspace / "data/shapes/val/000000.png"))
    assert drawn.shape == source.shape
    video = VideoReader(out_dir / "result.mp4")
    assert len(video) == 4 and video.resolution == (160, 160)


def test_async_demo(example, shapes_mask_rcnn, workspace, tmp_path, monkeypatch):
    example("inference")
    namespace = runpy.run_path(str(EXAMPLES / "inference/async_demo.py"))  # defines main(); not run as a script
    out_dir = tmp_path / "async"
    results = asyncio.run(namespace["main"]([
        "data/shapes/val/*.png", "--checkpoint", str(shapes_mask_rcnn),
        "--config", str(REPO / "configs/shapes/mask_rcnn_r18_fpn_shapes.py"), "--device", "cpu",
        "--concurrency", "2", "--out-dir", str(out_dir)]))
    assert len(results) == 2 and all(isinstance(r, tuple) and len(r[0]) == 4 for r in results)
    assert sorted(p.name for p in out_dir.iterdir()) == ["000000.png", "000001.png"]
