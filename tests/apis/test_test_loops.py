"""single_gpu_test / multi_gpu_test on a toy detector: order, batching, masks, drawings, gathering."""

from __future__ import annotations

import os
import pickle
import socket
import time

import cv2
import numpy as np
import pytest
import torch
from apis_toy import NUM_CLASSES, ToyDetector, ToyTestSet
from pycocotools import mask as mask_util

from detcli.apis import multi_gpu_test, single_gpu_test
from detcli.data import build_dataloader
from detcli.errors import DetError


def expected(dataset, i):
    """What the toy detector must report for image i, computed from the raw pixels."""
    img = dataset.images[i].astype(np.float32)
    mean = float(((img[..., ::-1] - dataset.MEAN) / dataset.STD).mean())
    h, w = img.shape[:2]
    return int(abs(mean) * 7) % NUM_CLASSES, [w * 0.1, h * 0.2, w * 0.6, h * 0.7, 1 / (1 + np.exp(-mean))]


def _loader(dataset, batch=1, dist=False):
    return build_dataloader(dataset, samples_per_gpu=batch, workers_per_gpu=0, dist=dist, shuffle=False)


@pytest.mark.parametrize("batch", [1, 2])
def test_results_in_dataset_order_whatever_the_batch(batch):
    dataset = ToyTestSet(5)
    results = single_gpu_test(ToyDetector(), _loader(dataset, batch))
    assert len(results) == 5
    for i, result in enumerate(results):
        label, box = expected(dataset, i)
        assert [len(r) for r in result] == [int(c == label) for c in range(NUM_CLASSES)]
        np.testing.assert_allclose(result[label][0], box, rtol=1e-5)


def test_masks_are_rle_encoded():
    dataset = ToyTestSet(3)
    results = single_gpu_test(ToyDetector(with_mask=True), _loader(dataset, 2))
    for i, (_, segm_result) in enumerate(results):
        label, _ = expected(dataset, i)
        rle = segm_result[label][0]
        assert isinstance(rle, dict) and isinstance(rle["counts"], bytes)
        h, w = dataset.images[i].shape[:2]
        want = np.zeros((h, w), np.uint8)
        want[int(h * 0.2):int(h * 0.7), int(w * 0.1):int(w * 0.6)] = 1
        assert np.array_equal(mask_util.decode(rle), want)


def test_out_dir_gets_drawings_on_the_original_images(tmp_path):
    dataset = ToyTestSet(3)
    single_gpu_test(ToyDetector(), _loader(dataset, 2), out_dir=str(tmp_path), show_score_thr=0.0)
    assert sorted(os.listdir(tmp_path)) == ["img_0.png", "img_1.png", "img_2.png"]
    for i in range(3):
        drawn = cv2.imread(str(tmp_path / f"img_{i}.png"))
        original = dataset.images[i]
        assert drawn.shape == original.shape
        # away from the box, the picture is the original one (de-normalised, back in BGR)
        assert np.abs(drawn[-1, -1].astype(int) - original[-1, -1]).max() <= 1
        assert not np.array_equal(drawn, original)  # and something was drawn


def test_show_without_display_fails_before_testing(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)

    class Exploding(ToyDetector):
        def forward(self, *a, **k):
            raise AssertionError("must not run")

    with pytest.raises(DetError, match="--show.*display"):
        single_gpu_test(Exploding(), _loader(ToyTestSet(2)), show=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out, tmpdir):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        dataset = ToyTestSet(5)
        loader = _loader(dataset, batch=2, dist=True)
        model = ToyDetector(with_mask=True)
        by_files = multi_gpu_test(model, loader, tmpdir=tmpdir)
        by_group = multi_gpu_test(model, loader, gpu_collect=True)
        with open(f"{out}.{rank}", "wb") as fh:
            pickle.dump((by_files, by_group), fh)
    finally:
        dist.destroy_process_group()


def test_two_processes_gather_in_dataset_order(tmp_path):
    import torch.multiprocessing as mp

    single = single_gpu_test(ToyDetector(with_mask=True), _loader(ToyTestSet(5), 1))
    out = str(tmp_path / "res")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "keep.txt").write_text("the user's file")  # --tmpdir may be a folder in use
    tmpdir = str(shared)
    # fork: no re-import in the children (spawn costs seconds); bounded wait so a hang fails, not stalls
    context = mp.start_processes(_worker, args=(2, _free_port(), out, tmpdir), nprocs=2, join=False,
                                 start_method="fork")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in context.processes:
                proc.kill()
            pytest.fail("the two test processes did not finish within 120 s")
    with open(f"{out}.1", "rb") as fh:
        assert pickle.load(fh) == (None, None)  # only rank 0 gets the results
    with open(f"{out}.0", "rb") as fh:
        for gathered in pickle.load(fh):  # through files, then through the process group
            assert len(gathered) == 5  # the sampler's padding (5 -> 6) is dropped
            for got, want in zip(gathered, single):
                for a, b in zip(got[0], want[0]):
                    np.testing.assert_array_equal(a, b)
                assert got[1] == want[1]
    assert [p.name for p in shared.iterdir()] == ["keep.txt"]  # the parts are gone, nothing else
