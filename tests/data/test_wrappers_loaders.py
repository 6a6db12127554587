"""Dataset wrappers (lengths, index mapping, flags, repeat factors), samplers and the loader."""

from __future__ import annotations

import math
import pickle
import random
from functools import partial

import numpy as np
import pytest
import torch

from detcli.data import (
    ClassBalancedDataset,
    ConcatDataset,
    RepeatDataset,
    build_dataloader,
    build_dataset,
    worker_init_fn,
)
from detcli.data.samplers import (
    DistributedGroupSampler,
    DistributedSampler,
    GroupSampler,
    InfiniteGroupBatchSampler,
)
from detcli.data.synthetic import SHAPE_CLASSES
from detcli.errors import ConfigError


def _middle(tmp_path, name, sizes_labels):
    infos = [dict(filename=f"{name}{i}.png", width=w, height=h,
                  ann=dict(bboxes=np.tile(np.float32([[1, 1, 20, 20]]), (len(labels), 1)), labels=np.int64(labels)))
             for i, (w, h, labels) in enumerate(sizes_labels)]
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(pickle.dumps(infos))
    return str(path)


@pytest.fixture
def two_sets(tmp_path):
    a = _middle(tmp_path, "a", [(64, 48, [0]), (48, 64, [0]), (64, 48, [0, 1]), (64, 48, [0]), (40, 40, [])])
    b = _middle(tmp_path, "b", [(48, 64, [1]), (64, 48, [1]), (48, 64, [0])])
    cfg = dict(type="CustomDataset", pipeline=[], classes=("x", "y"), filter_empty_gt=False)
    return dict(cfg, ann_file=a), dict(cfg, ann_file=b)


def test_repeat_dataset(two_sets):
    a = build_dataset(two_sets[0])
    rep = build_dataset(dict(type="RepeatDataset", times=3, dataset=two_sets[0]))
    assert isinstance(rep, RepeatDataset) and len(rep) == 15 and rep.CLASSES == ("x", "y")
    np.testing.assert_array_equal(rep.get_ann_info(7)["labels"], a.get_ann_info(2)["labels"])
    assert rep.get_cat_ids(12) == [0, 1]
    np.testing.assert_array_equal(rep.flag, np.tile(a.flag, 3))
    assert a.flag.tolist() == [1, 0, 1, 1, 0]


def test_concat_dataset_forms(two_sets):
    a, b = (build_dataset(c) for c in two_sets)
    for cat in (build_dataset(list(two_sets)),
                build_dataset(dict(type="ConcatDataset", datasets=list(two_sets))),
                build_dataset(dict(two_sets[0], ann_file=[two_sets[0]["ann_file"], two_sets[1]["ann_file"]]))):
        assert isinstance(cat, ConcatDataset) and len(cat) == 8 and cat.cumulative_sizes == [5, 8]
        np.testing.assert_array_equal(cat.get_ann_info(6)["labels"], b.get_ann_info(1)["labels"])
        np.testing.assert_array_equal(cat.get_ann_info(-1)["labels"], b.get_ann_info(2)["labels"])
        assert cat.get_cat_ids(2) == [0, 1]
        np.testing.assert_array_equal(cat.flag, np.concatenate([a.flag, b.flag]))
        assert cat.CLASSES == ("x", "y")
    prefixed = build_dataset(dict(two_sets[0], ann_file=[two_sets[0]["ann_file"], two_sets[1]["ann_file"]],
                                  img_prefix=["pa", "pb"]))
    assert [d.img_prefix for d in prefixed.datasets] == ["pa", "pb"]
    with pytest.raises(ConfigError):
        build_dataset(dict(two_sets[0], ann_file=[two_sets[0]["ann_file"]] * 2, img_prefix=["pa"]))
    with pytest.raises(ValueError):
        build_dataset(list(two_sets)).get_ann_info(-9)


def test_concat_evaluation_separate_and_joint(two_sets):
    cat = build_dataset(list(two_sets))
    perfect = []
    for i in range(len(cat)):
        ann = cat.get_ann_info(i)
        per_class = [np.zeros((0, 5), np.float32), np.zeros((0, 5), np.float32)]
        for box, label in zip(ann["bboxes"], ann["labels"]):
            per_class[label] = np.vstack([per_class[label], np.append(box, 1.0)[None].astype(np.float32)])
        perfect.append(per_class)
    separate = cat.evaluate(perfect, metric="mAP")
    assert separate["0_mAP"] == pytest.approx(1.0) and separate["1_mAP"] == pytest.approx(1.0)
    joint = ConcatDataset(cat.datasets, separate_eval=False).evaluate(perfect, metric="mAP")
    assert joint["mAP"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        cat.evaluate(perfect[:3])


def test_concat_of_coco_cannot_be_evaluated_jointly(shapes_root):
    coco = dict(type="CocoDataset", ann_file=str(shapes_root / "annotations/instances_val.json"), pipeline=[],
                classes=SHAPE_CLASSES)
    with pytest.raises(ConfigError, match="COCO datasets cannot be evaluated as a whole") as err:
        build_dataset(dict(type="ConcatDataset", datasets=[coco, coco], separate_eval=False))
    assert "separate_eval=True" in err.value.hint


def test_class_balanced_repeat_factors(two_sets):
    a = build_dataset(two_sets[0])  # labels per image: {0}, {0}, {0, 1}, {0}, {}
    cb = build_dataset(dict(type="ClassBalancedDataset", oversample_thr=0.5, dataset=two_sets[0]))
    # f(0) = 4/5 -> r = 1; f(1) = 1/5 -> r = sqrt(0.5 / 0.2) = 1.58 -> image 2 twice; the empty image once
    assert isinstance(cb, ClassBalancedDataset) and cb.repeat_indices == [0, 1, 2, 2, 3, 4] and len(cb) == 6
    np.testing.assert_array_equal(cb.flag, a.flag[[0, 1, 2, 2, 3, 4]])
    np.testing.assert_array_equal(cb.get_ann_info(3)["labels"], [0, 1])
    keep_empty = ClassBalancedDataset(a, oversample_thr=0.5, filter_empty_gt=False)
    # images without labels count as an extra category, also with frequency 1/5
    assert keep_empty.repeat_indices == [0, 1, 2, 2, 3, 4, 4]
    assert math.isclose(max(keep_empty._get_repeat_factors(a, 0.5)), math.sqrt(2.5))


class _Flags(torch.utils.data.Dataset):
    def __init__(self, flags):
        self.flag = np.array(flags, np.uint8)

    def __len__(self):
        return len(self.flag)

    def __getitem__(self, i):
        return i


FLAGS = [0, 0, 0, 1, 1, 0, 1]


def _batches(indices, size):
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def test_group_sampler_batches_share_a_group():
    np.random.seed(0)
    ds = _Flags(FLAGS)
    sampler = GroupSampler(ds, samples_per_gpu=2)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 8  # 4 -> 4, 3 -> 4 (padded to whole batches)
    assert set(indices) == set(range(7))
    for batch in _batches(indices, 2):
        assert len({int(ds.flag[i]) for i in batch}) == 1


def test_distributed_group_sampler_splits_without_overlap():
    ds = _Flags(FLAGS)
    parts = [list(DistributedGroupSampler(ds, samples_per_gpu=2, num_replicas=2, rank=r, seed=3)) for r in (0, 1)]
    assert [len(p) for p in parts] == [4, 4]  # ceil(4/4)*2 + ceil(3/4)*2 per replica
    assert set(parts[0]) | set(parts[1]) == set(range(7))
    for p in parts:
        for batch in _batches(p, 2):
            assert len({int(ds.flag[i]) for i in batch}) == 1
    again = list(DistributedGroupSampler(ds, samples_per_gpu=2, num_replicas=2, rank=0, seed=3))
    assert again == parts[0]  # deterministic per seed and epoch
    moved = DistributedGroupSampler(ds, samples_per_gpu=2, num_replicas=2, rank=0, seed=3)
    orders = set()
    for epoch in range(6):
        moved.set_epoch(epoch)
        orders.add(tuple(moved))
    assert len(orders) > 1


def test_distributed_sampler_for_testing_interleaves():
    ds = _Flags([0] * 5)
    assert list(DistributedSampler(ds, num_replicas=2, rank=0, shuffle=False)) == [0, 2, 4]
    assert list(DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)) == [1, 3, 0]
    shuffled = [list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=True, seed=1)) for r in (0, 1)]
    assert len(shuffled[0] + shuffled[1]) == 6 and set(shuffled[0] + shuffled[1]) == set(range(5))


def test_infinite_group_batch_sampler():
    ds = _Flags(FLAGS)
    it = iter(InfiniteGroupBatchSampler(ds, batch_size=2, world_size=1, rank=0, seed=0))
    batches = [next(it) for _ in range(10)]
    assert all(len({int(ds.flag[i]) for i in b}) == 1 and len(b) == 2 for b in batches)


class _RandomDraws(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return np.random.rand(), random.random()


def _epoch_draws(loader):
    return [tuple(map(float, pair)) for batch in loader for pair in zip(*batch)]


def test_worker_seeds_differ_per_epoch_and_replay_with_the_seed():
    def run():
        torch.manual_seed(123)
        loader = torch.utils.data.DataLoader(
            _RandomDraws(), batch_size=2, num_workers=2,
            worker_init_fn=partial(worker_init_fn, num_workers=2, rank=0, seed=7))
        return _epoch_draws(loader), _epoch_draws(loader)

    first, second = run()
    assert first != second  # a new epoch draws new augmentations
    assert len(set(first)) == 4  # the two workers do not share a stream
    assert run() == (first, second)  # the same seed replays both epochs


def _shapes_train(shapes_root, flip=0.5):
    return dict(type="CocoDataset", classes=SHAPE_CLASSES, ann_file=str(shapes_root / "annotations/instances_train.json"),
                img_prefix=str(shapes_root / "train"), pipeline=[
                    dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
                    dict(type="Resize", img_scale=(96, 64), keep_ratio=True), dict(type="RandomFlip", flip_ratio=flip),
                    dict(type="Normalize", mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True),
                    dict(type="Pad", size_divisor=32), dict(type="DefaultFormatBundle"),
                    dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks"])])


def test_build_dataloader_end_to_end(shapes_root):
    ds = build_dataset(_shapes_train(shapes_root))
    loader = build_dataloader(ds, samples_per_gpu=3, workers_per_gpu=0, shuffle=True, seed=0)
    assert isinstance(loader.sampler, GroupSampler) and len(loader) == 4
    batch = next(iter(loader))
    assert batch["img"].shape == (3, 3, 64, 64) and batch["img"].dtype == torch.float32
    assert len(batch["img_metas"]) == 3 and batch["img_metas"][0]["img_shape"] == (64, 64, 3)
    for boxes, labels, masks in zip(batch["gt_bboxes"], batch["gt_labels"], batch["gt_masks"]):
        assert boxes.shape[1] == 4 and len(boxes) == len(labels) == len(masks) and masks.height == 64
    test_loader = build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, shuffle=False)
    assert test_loader.sampler.__class__.__name__ == "SequentialSampler"
    dist_loader = build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, dist=True, shuffle=True, seed=1)
    assert isinstance(dist_loader.sampler, DistributedGroupSampler)
    dist_test = build_dataloader(ds, samples_per_gpu=1, workers_per_gpu=0, dist=True, shuffle=False)
    assert isinstance(dist_test.sampler, DistributedSampler)
    with pytest.raises(ConfigError, match="class_aware_sampler"):
        build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, class_aware_sampler=dict(num_sample_class=1))
    iters = build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, runner_type="IterBasedRunner", seed=0)
    assert isinstance(iters.batch_sampler, InfiniteGroupBatchSampler)
    assert next(iter(iters))["img"].shape[0] == 2


def test_seeded_workers_reproduce_augmentation(shapes_root):
    ds = build_dataset(_shapes_train(shapes_root))

    def flips(seed):
        torch.manual_seed(seed)  # as the runner does: worker seeds come from the seeded main process
        loader = build_dataloader(ds, samples_per_gpu=4, workers_per_gpu=1, shuffle=False, seed=seed)
        return [m["flip"] for batch in loader for m in batch["img_metas"]]

    first = flips(5)
    assert flips(5) == first
    assert any(flips(s) != first for s in (6, 7))
