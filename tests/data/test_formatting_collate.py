"""Formatting transforms, DataContainer, collate (padding + metas + test-time lists), to_device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detcli.data import Compose, DataContainer, collate, replace_ImageToTensor, to_device
from detcli.data.collate import stack_padded
from detcli.data.pipelines import (
    Collect,
    DefaultFormatBundle,
    ImageToTensor,
    MultiScaleFlipAug,
    ToDataContainer,
    ToTensor,
    Transpose,
    WrapFieldsToLists,
)
from detcli.data.pipelines.formatting import DEFAULT_META_KEYS, to_tensor
from detcli.structures.masks import BitmapMasks

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def test_data_container_properties():
    dc = DataContainer(torch.zeros(3, 4, 5), stack=True, padding_value=7)
    assert dc.stack and not dc.cpu_only and dc.padding_value == 7 and dc.pad_dims == 2
    assert dc.size() == (3, 4, 5) and dc.size(1) == 4 and dc.dim() == 3 and dc.datatype == "torch.FloatTensor"
    meta = DataContainer({"a": 1}, cpu_only=True)
    assert meta.datatype is dict
    with pytest.raises(AttributeError):
        meta.size()
    with pytest.raises(ValueError):
        DataContainer(1, pad_dims=4)


def test_to_tensor_conversions():
    assert to_tensor(np.arange(3)).dtype == torch.int64
    assert to_tensor([1.5, 2.0]).dtype == torch.float32
    assert to_tensor(3).tolist() == [3] and to_tensor(2.5).tolist() == [2.5]
    with pytest.raises(TypeError):
        to_tensor("text")


def test_simple_formatting_steps():
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = ImageToTensor(keys=["img"])({"img": img})
    assert out["img"].shape == (4, 2, 3) and torch.equal(out["img"][1], torch.from_numpy(img[..., 1]))
    gray = ImageToTensor(keys=["img"])({"img": np.zeros((5, 6), np.uint8)})
    assert gray["img"].shape == (1, 5, 6)
    assert ToTensor(keys=["x"])({"x": np.ones(2)})["x"].dtype == torch.float64
    assert Transpose(keys=["x"], order=(2, 0, 1))({"x": img})["x"].shape == (4, 2, 3)
    wrapped = ToDataContainer(fields=(dict(key="img", stack=True), dict(key="gt_bboxes")))(
        {"img": torch.zeros(3, 2, 2), "gt_bboxes": torch.zeros(1, 4)})
    assert wrapped["img"].stack and not wrapped["gt_bboxes"].stack
    assert WrapFieldsToLists()({"a": 1, "b": 2}) == {"a": [1], "b": [2]}


def _train_sample(h, w, n, flip=False):
    rng = np.random.RandomState(h * w)
    masks = BitmapMasks((rng.rand(n, h, w) > 0.5).astype(np.uint8), h, w)
    return dict(img=rng.randint(0, 255, (h, w, 3)).astype(np.uint8), img_shape=(h, w, 3), ori_shape=(h, w, 3),
                pad_shape=(h, w, 3), scale_factor=np.ones(4, np.float32), flip=flip, flip_direction=None,
                img_norm_cfg=dict(mean=np.zeros(3), std=np.ones(3), to_rgb=False), filename=f"{h}.png",
                ori_filename=f"{h}.png", gt_bboxes=rng.rand(n, 4).astype(np.float32), gt_labels=np.arange(n),
                gt_bboxes_ignore=np.zeros((0, 4), np.float32), gt_masks=masks,
                gt_semantic_seg=rng.randint(0, 5, (h, w)).astype(np.uint8))


def test_default_format_bundle_wraps_like_mmdetection():
    s = DefaultFormatBundle()(_train_sample(6, 8, 2))
    assert s["img"].stack and s["img"].padding_value == 0 and s["img"].data.dtype == torch.float32
    assert s["img"].data.shape == (3, 6, 8)
    for key in ("gt_bboxes", "gt_labels", "gt_bboxes_ignore"):
        assert isinstance(s[key], DataContainer) and not s[key].stack and isinstance(s[key].data, torch.Tensor)
    assert s["gt_masks"].cpu_only and isinstance(s["gt_masks"].data, BitmapMasks)
    assert s["gt_semantic_seg"].stack and s["gt_semantic_seg"].padding_value == 255
    assert s["gt_semantic_seg"].data.shape == (1, 6, 8)
    bare = DefaultFormatBundle()({"img": np.zeros((4, 5, 3), np.uint8)})
    assert bare["pad_shape"] == (4, 5, 3) and bare["scale_factor"] == 1.0
    assert bare["img_norm_cfg"]["to_rgb"] is False


def test_collect_keeps_keys_and_default_meta_keys():
    s = Collect(keys=["img", "gt_bboxes"])(DefaultFormatBundle()(_train_sample(6, 8, 2)))
    assert set(s) == {"img", "gt_bboxes", "img_metas"}
    assert s["img_metas"].cpu_only and tuple(s["img_metas"].data) == DEFAULT_META_KEYS
    assert DEFAULT_META_KEYS == ("filename", "ori_filename", "ori_shape", "img_shape", "pad_shape", "scale_factor",
                                 "flip", "flip_direction", "img_norm_cfg")
    with pytest.raises(KeyError, match="gt_masks"):
        Collect(keys=["gt_masks"])({k: v for k, v in _train_sample(6, 8, 2).items() if k != "gt_masks"})


def test_collate_pads_images_and_keeps_per_image_targets():
    fmt = Compose([dict(type="DefaultFormatBundle"),
                   dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks", "gt_semantic_seg"])])
    a, b = fmt(_train_sample(6, 8, 2)), fmt(_train_sample(9, 5, 3))
    batch = collate([a, b])
    img = batch["img"]
    assert img.shape == (2, 3, 9, 8)
    torch.testing.assert_close(img[0, :, :6, :8], a["img"].data)
    torch.testing.assert_close(img[1, :, :9, :5], b["img"].data)
    assert img[0, :, 6:, :].abs().sum() == 0 and img[1, :, :, 5:].abs().sum() == 0
    seg = batch["gt_semantic_seg"]
    assert seg.shape == (2, 1, 9, 8) and (seg[0, :, 6:] == 255).all() and (seg[1, :, :, 5:] == 255).all()
    assert [t.shape for t in batch["gt_bboxes"]] == [(2, 4), (3, 4)]
    assert [t.dtype for t in batch["gt_labels"]] == [torch.int64, torch.int64]
    assert all(isinstance(m, BitmapMasks) for m in batch["gt_masks"])
    assert [m["filename"] for m in batch["img_metas"]] == ["6.png", "9.png"]


def test_collate_pads_unwrapped_images_of_different_sizes():
    batch = collate([{"img": torch.ones(3, 4, 5)}, {"img": torch.ones(3, 6, 2)}])
    assert batch["img"].shape == (2, 3, 6, 5) and batch["img"].sum() == 3 * 20 + 3 * 12
    same = collate([{"x": torch.ones(2)}, {"x": torch.zeros(2)}])
    assert same["x"].tolist() == [[1, 1], [0, 0]]


def test_stack_padded_other_dims():
    out = stack_padded([torch.ones(2, 3), torch.ones(4, 1)], pad_value=-1, pad_dims=2)
    assert out.shape == (2, 4, 3) and out[0, 2:].eq(-1).all() and out[1, :, 1:].eq(-1).all()
    with pytest.raises(ValueError):
        stack_padded([torch.ones(2, 3, 3), torch.ones(3, 3, 3)], pad_dims=2)


def test_multiscale_flip_aug_order_and_collate(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 60, 3), np.uint8))
    pipe = Compose([
        dict(type="LoadImageFromFile"),
        dict(type="MultiScaleFlipAug", img_scale=[(120, 80), (60, 40)], flip=True,
             flip_direction=["horizontal", "vertical"],
             transforms=[dict(type="Resize", keep_ratio=True), dict(type="RandomFlip"), dict(type="Normalize", **NORM),
                         dict(type="Pad", size_divisor=32), dict(type="ImageToTensor", keys=["img"]),
                         dict(type="Collect", keys=["img"])]),
    ])
    out = pipe(dict(img_info=dict(filename="a.png"), img_prefix=str(tmp_path)))
    metas = [m.data for m in out["img_metas"]]
    assert [(m["img_shape"][:2], m["flip"], m["flip_direction"]) for m in metas] == [
        ((80, 120), False, None), ((80, 120), True, "horizontal"), ((80, 120), True, "vertical"),
        ((40, 60), False, None), ((40, 60), True, "horizontal"), ((40, 60), True, "vertical")]
    batch = collate([out, pipe(dict(img_info=dict(filename="a.png"), img_prefix=str(tmp_path)))])
    assert len(batch["img"]) == 6 and batch["img"][0].shape == (2, 3, 96, 128)
    assert len(batch["img_metas"]) == 6 and len(batch["img_metas"][0]) == 2 and isinstance(batch["img_metas"][0][0], dict)
    by_factor = MultiScaleFlipAug(transforms=[dict(type="Resize", keep_ratio=True)], scale_factor=[0.5, 1.0])
    res = by_factor({"img": np.zeros((40, 60, 3), np.uint8)})
    assert [s[:2] for s in res["img_shape"]] == [(20, 30), (40, 60)]
    with pytest.raises(ValueError):
        MultiScaleFlipAug(transforms=[], img_scale=(1, 1), scale_factor=1.0)


def test_replace_image_to_tensor():
    cfg = [dict(type="LoadImageFromFile"),
           dict(type="MultiScaleFlipAug", img_scale=(1, 1), transforms=[dict(type="ImageToTensor", keys=["img"])])]
    with pytest.warns(UserWarning):
        out = replace_ImageToTensor(cfg)
    assert out[1]["transforms"] == [dict(type="DefaultFormatBundle")]
    assert cfg[1]["transforms"][0]["type"] == "ImageToTensor"  # the input is not modified


def test_to_device_moves_tensors_only():
    batch = {"img": torch.zeros(1, 3, 4, 4), "gt_bboxes": [torch.zeros(2, 4)],
             "img_metas": [{"scale_factor": np.ones(4, np.float32)}], "gt_masks": [BitmapMasks([], 4, 4)]}
    moved = to_device(batch, torch.device("meta"))
    assert moved["img"].device.type == "meta" and moved["gt_bboxes"][0].device.type == "meta"
    assert moved["img_metas"] is batch["img_metas"] and moved["gt_masks"][0] is batch["gt_masks"][0]
    aug = to_device({"img": [torch.zeros(1), torch.zeros(1)]}, "meta")
    assert all(t.device.type == "meta" for t in aug["img"])


def test_custom_transform_from_the_guide_works_in_a_config():
    from detcli.data import PIPELINES  # the guide's ``from mmdet.datasets import PIPELINES``

    @PIPELINES.register_module(force=True)
    class MyTransform:
        def __call__(self, results):
            results["dummy"] = True
            return results

    pipe = Compose([dict(type="MyTransform"), dict(type="Collect", keys=["dummy"], meta_keys=())])
    assert pipe({})["dummy"] is True


def test_compose_stops_on_none_and_rejects_bad_steps():
    calls = []
    pipe = Compose([lambda r: None, lambda r: calls.append(1) or r])
    assert pipe({}) is None and calls == []
    with pytest.raises(TypeError):
        Compose([42])
    with pytest.raises(TypeError):
        Compose(dict(type="Resize"))
