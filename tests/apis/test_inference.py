"""The inference API on a tiny real Mask R-CNN, including the guide's snippets (detcli imports)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from detcli.errors import DetError

REPO = Path(__file__).resolve().parents[2]
CONFIG = '''
_base_ = ['{root}/configs/_base_/models/mask_rcnn_r50_fpn.py', '{root}/configs/_base_/datasets/shapes_instance.py']
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'),
                  norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=4),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=4)),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100), rcnn=dict(score_thr=0.0, max_per_img=20)))
data = dict(test=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(96, 96), flip=False, transforms=[
        dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
        dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
        dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])])]))
'''
CLASSES = ("w", "x", "y", "z")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """config, checkpoint (random weights, class names in meta), images and a short video."""
    from detcli.config import Config
    from detcli.models import build_detector

    root = tmp_path_factory.mktemp("inference")
    config = root / "tiny.py"
    config.write_text(CONFIG.format(root=REPO))
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    torch.save({"meta": {"CLASSES": CLASSES}, "state_dict": model.state_dict()}, root / "tiny.pth")
    torch.save({"state_dict": model.state_dict()}, root / "no_meta.pth")
    rng = np.random.RandomState(0)
    for i in range(3):
        img = np.full((80, 96, 3), 40, np.uint8)
        cv2.circle(img, (30 + 10 * i, 40), 15, (200, 50 + 50 * i, 90), -1)
        img += rng.randint(0, 20, img.shape).astype(np.uint8)
        cv2.imwrite(str(root / f"img{i}.png"), img)
    writer = cv2.VideoWriter(str(root / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (96, 80))
    for i in range(3):
        writer.write(cv2.imread(str(root / f"img{i}.png")))
    writer.release()
    return root


def _same(a, b, atol=1e-4):
    bbox_a, segm_a = a
    bbox_b, segm_b = b
    for x, y in zip(bbox_a, bbox_b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=1e-4)
    for x, y in zip(segm_a, segm_b):
        assert len(x) == len(y) and all(np.array_equal(m, n) for m, n in zip(x, y))


def test_guide_install_check_demo(files):
    """Chapter 1.2: init_detector with only a config, then inference on an image path."""
    from detcli.apis import inference_detector, init_detector

    config_file = str(files / "tiny.py")
    device = "cpu"
    # init a detector (the config asks for torchvision pretraining: init_detector must not download it)
    model = init_detector(config_file, device=device)
    # inference the demo image
    result = inference_detector(model, str(files / "img0.png"))
    bbox_result, segm_result = result
    assert len(bbox_result) == 4 and all(b.shape[1] == 5 and b.dtype == np.float32 for b in bbox_result)
    assert all(m.shape == (80, 96) and m.dtype == bool for cls in segm_result for m in cls)
    assert model.CLASSES == ("circle", "square", "triangle", "star")  # no checkpoint: the test set's names


def test_guide_high_level_api_and_video(files, monkeypatch):
    """Chapter 2.1.1: path or loaded image, show_result to a window or a file, then a video loop."""
    from detcli.apis import VideoReader, inference_detector, init_detector
    from detcli.data import imread

    config_file = str(files / "tiny.py")
    checkpoint_file = str(files / "tiny.pth")
    model = init_detector(config_file, checkpoint_file, device="cpu")
    assert model.CLASSES == CLASSES  # names from the checkpoint's meta

    img = str(files / "img1.png")
    result = inference_detector(model, img)
    _same(result, inference_detector(model, imread(img)))  # a path or an already loaded image

    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DetError, match="no display"):  # "in a new window": one clear error here
        model.show_result(img, result, show=True)
    model.show_result(img, result, out_file=str(files / "result.jpg"))
    assert cv2.imread(str(files / "result.jpg")).shape == (80, 96, 3)

    video = VideoReader(str(files / "video.mp4"))
    assert (len(video), video.width, video.height) == (3, 96, 80) and video.fps == pytest.approx(5)
    frames = 0
    for frame in video:
        result = inference_detector(model, frame)
        drawn = model.show_result(frame, result, wait_time=1)
        assert drawn.shape == frame.shape
        frames += 1
    assert frames == 3


def test_guide_async_api_with_concurrent(files):
    """Chapter 2.1.2: the stream-queue example; on the CPU the queue holds plain tokens."""
    from detcli.apis import async_inference_detector, concurrent, inference_detector, init_detector

    results = {}

    async def main():
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        model = init_detector(str(files / "tiny.py"), checkpoint=str(files / "tiny.pth"), device=device)
        # queue is used for concurrent inference of multiple images
        streamqueue = asyncio.Queue()
        # queue size defines concurrency level
        streamqueue_size = 3
        for _ in range(streamqueue_size):
            streamqueue.put_nowait(torch.cuda.Stream(device=device) if device != "cpu" else None)

        img = str(files / "img2.png")

        async def one(name):
            async with concurrent(streamqueue):
                results[name] = await async_inference_detector(model, img)

        await asyncio.gather(*(one(k) for k in range(4)))  # more requests than streams: they wait
        assert streamqueue.qsize() == streamqueue_size  # every stream went back to the queue
        results["sync"] = inference_detector(model, img)
        model.show_result(img, results[0], out_file=str(files / "async_result.jpg"))

    asyncio.run(main())
    for k in range(4):
        _same(results[k], results["sync"])
    assert (files / "async_result.jpg").is_file()


def test_concurrent_bounds_parallelism():
    from detcli.apis import concurrent

    active, peak = 0, 0

    async def job(queue):
        nonlocal active, peak
        async with concurrent(queue):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    async def main():
        queue = asyncio.Queue()
        for _ in range(2):
            queue.put_nowait(None)
        await asyncio.gather(*(job(queue) for _ in range(6)))

    asyncio.run(main())
    assert peak == 2


def test_batched_list_equals_one_by_one_and_the_test_loop(files):
    from detcli.apis import inference_detector, init_detector, single_gpu_test
    from detcli.data import build_dataloader

    model = init_detector(str(files / "tiny.py"), str(files / "tiny.pth"), device="cpu")
    paths = [str(files / f"img{i}.png") for i in range(3)]
    batched = inference_detector(model, paths)
    assert isinstance(batched, list) and len(batched) == 3
    assert all(sum(len(b) for b in res[0]) > 0 for res in batched)  # real detections are compared
    for path, res in zip(paths, batched):
        _same(res, inference_detector(model, path))

    class Images(torch.utils.data.Dataset):  # the same images through the test loop
        def __init__(self):
            from detcli.apis.inference import _Pipelines

            self.pipeline = _Pipelines(model.cfg)(False)

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return self.pipeline({"img_info": {"filename": paths[i]}, "img_prefix": None})

    looped = single_gpu_test(model, build_dataloader(Images(), 1, 0, shuffle=False))
    from pycocotools import mask as mask_util

    for res, (bbox, rles) in zip(batched, looped):
        decoded = [[mask_util.decode(r).astype(bool) for r in cls] for cls in rles]
        _same(res, (bbox, decoded))


def test_no_meta_classes_and_device_errors(files):
    from detcli.apis import init_detector

    model = init_detector(str(files / "tiny.py"), str(files / "no_meta.pth"), device="cpu")
    assert model.CLASSES == ("circle", "square", "triangle", "star")
    if not torch.cuda.is_available():
        with pytest.raises(DetError, match="CUDA is not available") as info:
            init_detector(str(files / "tiny.py"), device="cuda:0")
        assert "--device cpu" in info.value.hint
    with pytest.raises(DetError, match="unknown device"):
        init_detector(str(files / "tiny.py"), device="gpu7")


def test_batching_replaces_image_to_tensor_without_warning_the_user(files):
    """inference_detector batches by its own choice: swapping the config's ImageToTensor is not the
    user's to fix, so it stays silent."""
    import warnings

    from detcli.apis import inference_detector, init_detector

    model = init_detector(str(files / "tiny.py"), str(files / "tiny.pth"), device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("a warning of the caller's own", UserWarning, stacklevel=1)  # proves the recorder records
        results = inference_detector(model, [str(files / "img0.png"), str(files / "img1.png")])
    assert len(results) == 2
    messages = [str(w.message) for w in caught]
    assert "a warning of the caller's own" in messages
    assert not any("ImageToTensor" in m for m in messages), messages
