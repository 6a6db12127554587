"""ONNX export of the shipped detectors, checked in ONNX Runtime against the PyTorch models."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.dense_heads.retina_head import RetinaHead
from detcli.models.post_processing import batched_nms as model_batched_nms
from detcli.models.post_processing import multiclass_nms as model_multiclass_nms
from detcli.models.roi_heads.mask_heads.mask_paste import paste_masks_in_image
from detcli.registry import BACKBONES, HEADS
from detcli.tools.onnx_export import (
    ExportBlockedError,
    ExportError,
    Tolerance,
    VerificationError,
    build_export_module,
    export_model,
    run_pytorch2onnx,
)
from detcli.tools.onnx_export import traceable_ops as ops
from detcli.tools.onnx_export.example_input import input_shape, normalize_cfg, prepare_input
from detcli.tools.onnx_export.pytorch2onnx import VerifyCase, verify_export
from detcli.tools.onnx_export.roi_head_export import paste_masks
from detcli.tools.onnx_export.verify import Detections, compare_detections

sys.path.insert(0, str(Path(__file__).parent))
from onnx_tiny import build_tiny, save_checkpoint, scene  # noqa: E402

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def _input(image: np.ndarray, h: int, w: int) -> tuple[torch.Tensor, dict]:
    """The image resized to h x w and normalised like the configs' test pipeline (RGB, ImageNet stats)."""
    rgb = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)[..., ::-1].astype(np.float32)
    tensor = torch.from_numpy(((rgb - MEAN) / STD).transpose(2, 0, 1).copy())[None]
    meta = dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), pad_shape=(h, w, 3), scale_factor=np.ones(4, np.float32),
                flip=False, flip_direction=None, batch_input_shape=(h, w))
    return tensor, meta


def _assert_same_detections(result, outputs) -> int:
    """Every PyTorch detection has an ONNX one of its class with score within 1e-4 and box within 1e-2 px."""
    bbox_result, segm_result = result if isinstance(result, tuple) else (result, None)
    dets, labels = outputs[0][0], outputs[1][0]
    assert outputs[0].shape[0] == outputs[1].shape[0] == 1 and dets.shape[1] == 5 and labels.dtype == np.int64
    assert len(dets) == sum(len(b) for b in bbox_result)
    used = np.zeros(len(dets), bool)
    for cls, boxes in enumerate(bbox_result):
        for k, det in enumerate(boxes):
            close = ((labels == cls) & ~used & (np.abs(dets[:, 4] - det[4]) <= 1e-4)
                     & (np.abs(dets[:, :4] - det[:4]).max(1) <= 1e-2))
            assert close.any(), f"class {cls} detection {det} has no ONNX counterpart"
            j = int(np.flatnonzero(close)[0])
            used[j] = True
            if segm_result is not None:
                ours, theirs = segm_result[cls][k], outputs[2][0][j] >= 0.5
                assert ours.shape == theirs.shape
                differ = np.count_nonzero(ours != theirs)
                assert differ <= 2 or differ <= 0.01 * np.count_nonzero(ours | theirs)
    return len(dets)


@pytest.fixture(scope="module")
def scene_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "scene.png"
    cv2.imwrite(str(path), scene())
    return path


@pytest.mark.parametrize("kind", ["retinanet", "faster_rcnn", "mask_rcnn"])
def test_dynamic_export_matches_pytorch_at_two_sizes(kind, tmp_path, scene_png):
    config, options, model = build_tiny(kind)
    checkpoint = save_checkpoint(model, tmp_path / "tiny.pth")
    out = tmp_path / "model.onnx"
    summary = run_pytorch2onnx(config, str(checkpoint), output_file=str(out), input_img=str(scene_png),
                               shape=(128, 160), dynamic_export=True, verify=True, cfg_options=options)
    assert [v["case"] for v in summary["verified"]] == ["input image 128x160", "input image 192x224"]
    assert all(v["comparison"].within and v["comparison"].num_pytorch > 0 for v in summary["verified"])

    graph = onnx.load(str(out)).graph
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, "height", "width"]
    expected = ["dets", "labels", "masks"] if kind == "mask_rcnn" else ["dets", "labels"]
    assert [o.name for o in graph.output] == expected
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    image = scene()
    for h, w in [(128, 160), (96, 192)]:  # the second size was never seen by the exporter
        img, meta = _input(image, h, w)
        with torch.no_grad():
            result = model.simple_test(img, [meta], rescale=True)[0]
        outputs = session.run(None, {"input": img.numpy()})
        assert _assert_same_detections(result, outputs) > 0
        if kind == "mask_rcnn":
            assert outputs[2].shape[2:] == (h, w) and outputs[2].dtype == np.float32


def test_rpn_exports_its_proposals(tmp_path, scene_png):
    config, options, model = build_tiny("rpn")
    checkpoint = save_checkpoint(model, tmp_path / "rpn.pth")
    summary = run_pytorch2onnx(config, str(checkpoint), output_file=str(tmp_path / "rpn.onnx"),
                               input_img=str(scene_png), shape=(96, 128), verify=True, cfg_options=options)
    assert summary["outputs"] == ["dets", "labels"]
    img, meta = _input(cv2.imread(str(scene_png)), 96, 128)
    with torch.no_grad():
        proposals = model.simple_test(img, [meta], rescale=True)[0]
    dets, labels = ort.InferenceSession(str(tmp_path / "rpn.onnx")).run(None, {"input": img.numpy()})
    assert len(proposals) == 50 and dets.shape == (1, 50, 5) and not labels.any()
    np.testing.assert_allclose(np.sort(dets[0][:, 4]), np.sort(proposals[:, 4]), atol=1e-5)


class _DataDependentBranch(nn.Module):
    def forward(self, x):
        return x * 2 if x.mean() > 0 else x  # a trace keeps only the branch taken


def test_data_dependent_python_branch_is_reported(tmp_path):
    _, _, model = build_tiny("retinanet")
    model.neck.fpn_convs[0] = nn.Sequential(model.neck.fpn_convs[0], _DataDependentBranch())
    img, meta = _input(scene(), 64, 64)
    result = export_model(model, img, meta, tmp_path / "m.onnx")
    assert len(result.trace_warnings) == 1
    assert result.trace_warnings[0].startswith(f"{__file__}:") and "Python boolean" in result.trace_warnings[0]


def test_skip_postprocess_one_stage_gives_raw_head_maps(tmp_path):
    _, _, model = build_tiny("retinanet")
    img, meta = _input(scene(), 128, 160)
    result = export_model(model, img, meta, tmp_path / "raw.onnx", raw=True)
    assert result.output_names == [f"{k}_{i}" for k in ("cls_score", "bbox_pred") for i in range(5)]
    graph = onnx.load(str(result.path)).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 128, 160]  # static
    outputs = ort.InferenceSession(str(result.path)).run(None, {"input": img.numpy()})
    sizes = [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)]  # strides 8 .. 128
    assert [o.shape for o in outputs] == [(1, 27, *s) for s in sizes] + [(1, 36, *s) for s in sizes]
    with torch.no_grad():
        cls_scores, bbox_preds = model.bbox_head(model.extract_feat(img))
    for got, want in zip(outputs, cls_scores + bbox_preds):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-3)
    comparison, _, _ = verify_export(model, result, VerifyCase("image", None, (128, 160)), normalize_cfg(model.cfg),
                                     Tolerance())
    assert comparison.within and comparison.summary().startswith("10 raw outputs; largest difference ")


def test_skip_postprocess_two_stage_takes_rois(tmp_path):
    _, _, model = build_tiny("mask_rcnn")
    img, meta = _input(scene(), 128, 160)
    result = export_model(model, img, meta, tmp_path / "raw.onnx", raw=True, dynamic=True)
    assert result.input_names == ["input", "rois"]
    assert result.output_names[-3:] == ["cls_score", "bbox_pred", "mask_pred"]
    assert "forward" not in vars(model.roi_head.bbox_roi_extractor)  # the export's swap is undone
    rois = torch.tensor([[0, 10, 12, 60, 70], [0, 0, 0, 160, 128], [0, 90, 20, 150, 110], [0, 5, 5, 9, 9.5]])
    outputs = ort.InferenceSession(str(result.path)).run(None, {"input": img.numpy(), "rois": rois.numpy()})
    assert [o.shape for o in outputs[:5]] == [(1, 3, 32, 40), (1, 3, 16, 20), (1, 3, 8, 10), (1, 3, 4, 5),
                                              (1, 3, 2, 3)]
    assert [o.shape for o in outputs[-3:]] == [(4, 4), (4, 12), (4, 3, 28, 28)]
    with torch.no_grad():
        feats = model.extract_feat(img)
        boxes = model.roi_head._bbox_forward(feats, rois)
        masks = model.roi_head._mask_forward(feats, rois)["mask_pred"]
    for got, want in zip(outputs[-3:], (boxes["cls_score"], boxes["bbox_pred"], masks)):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-3)


def test_opset_below_what_the_model_needs_names_the_minimum(tmp_path):
    _, _, model = build_tiny("faster_rcnn")
    img, meta = _input(scene(), 64, 64)
    with pytest.raises(ExportError, match=r"opset 11 is too low .*RoIAlign, aligned=True\) needs opset >= 16"):
        export_model(model, img, meta, tmp_path / "m.onnx", opset_version=11)
    assert not (tmp_path / "m.onnx").exists()


@BACKBONES.register_module(force=True)
class OnnxTestMedianBackbone(nn.Module):
    """Four feature maps like a ResNet-18 with 4 base channels, one of them median-centred."""

    def __init__(self, **kwargs):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, c, 1) for c in (4, 8, 16, 32))

    def forward(self, x):
        feats = []
        for i, conv in enumerate(self.convs):
            x_i = conv(nn.functional.avg_pool2d(x, 4 * 2**i))
            feats.append(x_i - x_i.median(dim=1, keepdim=True).values if i == 2 else x_i)
        return tuple(feats)


def test_operator_without_onnx_equivalent_names_the_module(tmp_path):
    _, _, model = build_tiny("retinanet", {"model.backbone.type": "OnnxTestMedianBackbone"})
    img, meta = _input(scene(), 64, 64)
    with pytest.raises(ExportBlockedError) as err:
        export_model(model, img, meta, tmp_path / "m.onnx")
    assert str(err.value) == ("cannot export to ONNX: aten::median in backbone (OnnxTestMedianBackbone) has no "
                              "ONNX equivalent at opset 11")
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one is left


@HEADS.register_module(force=True)
class OnnxTestOwnPostprocessHead(RetinaHead):
    def _get_bboxes_single(self, *args, **kwargs):
        return super()._get_bboxes_single(*args, **kwargs)


def test_head_with_its_own_postprocessing_is_named(tmp_path):
    _, _, model = build_tiny("retinanet", {"model.bbox_head.type": "OnnxTestOwnPostprocessHead"})
    with pytest.raises(ExportBlockedError, match=r"^cannot export to ONNX: bbox_head \(OnnxTestOwnPostprocessHead\) "
                                                 r"has its own test-time post-processing \(_get_bboxes_single\)"):
        build_export_module(model)
    img, meta = _input(scene(), 64, 64)  # its raw outputs still export
    result = export_model(model, img, meta, tmp_path / "raw.onnx", raw=True)
    assert result.path.is_file() and result.output_names == [f"{k}_{i}" for k in ("cls_score", "bbox_pred")
                                                               for i in range(5)]


def test_simplify_without_onnxsim_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxsim", None)
    _, _, model = build_tiny("retinanet")
    img, meta = _input(scene(), 64, 64)
    with pytest.raises(ExportError, match="--simplify needs onnxsim, which is not installed") as err:
        export_model(model, img, meta, tmp_path / "m.onnx", simplify=True)
    assert "pip install onnxsim" in err.value.hint
    assert list(tmp_path.iterdir()) == []


def test_verification_fails_beyond_tolerance(tmp_path, scene_png):
    config, options, model = build_tiny("retinanet")
    checkpoint = save_checkpoint(model, tmp_path / "tiny.pth")
    exact = Tolerance(box_atol=0, box_rtol=0, score_atol=0)  # ONNX Runtime's float rounding is not PyTorch's
    with pytest.raises(VerificationError, match=r"^ONNX Runtime and PyTorch disagree on the input image 128x160: "):
        run_pytorch2onnx(config, str(checkpoint), output_file=str(tmp_path / "m.onnx"), input_img=str(scene_png),
                         shape=(128, 160), verify=True, cfg_options=options, tolerance=exact)


def _dets(boxes, scores, labels, masks=None) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(labels, np.int64), masks)


def test_comparison_of_detections():
    ref = _dets([[10, 10, 50, 40], [60, 5, 90, 30]], [0.9, 0.5], [0, 1])
    same = compare_detections(ref, _dets([[60, 5, 90, 30], [10, 10, 50, 40]], [0.5, 0.9], [1, 0]))
    assert same.within and same.paired == 2 and same.max_box_diff == 0
    moved = compare_detections(ref, moved_dets())
    assert not moved.within and moved.max_box_diff == pytest.approx(0.5)
    assert not compare_detections(ref, _dets([[10, 10, 50, 40], [60, 5, 90, 30]], [0.9, 0.502], [0, 1])).within
    assert not compare_detections(ref, _dets([[10, 10, 50, 40], [60, 5, 90, 30]], [0.9, 0.5], [0, 2])).within
    assert not compare_detections(ref, _dets([[10, 10, 50, 40]], [0.9], [0])).within
    # two near-tied candidates that suppress each other: NMS may keep either one, but only a candidate
    other = _dets([[10, 10, 50, 40], [62, 6, 91, 30]], [0.9, 0.50000006], [0, 1])
    assert not compare_detections(ref, other).within
    candidates = _dets([[10, 10, 50, 40], [60, 5, 90, 30], [62, 6, 91, 30]], [0.9, 0.5, 0.5], [0, 1, 1])
    swapped = compare_detections(ref, other, candidates=candidates)
    assert swapped.within and swapped.swapped == 1 and swapped.paired == 1
    assert not compare_detections(ref, moved_dets(), candidates=candidates).within


def moved_dets() -> Detections:
    return _dets([[10.5, 10, 50, 40], [60, 5, 90, 30]], [0.9, 0.5], [0, 1])


def test_comparison_of_masks():
    ref_masks = np.zeros((1, 20, 20), bool)
    ref_masks[0, 5:9, 5:10] = True  # 20 pixels
    ref = _dets([[5, 5, 10, 9]], [0.8], [2], ref_masks)
    one_off = ref_masks.copy()
    one_off[0, 9, 5] = True
    assert compare_detections(ref, _dets([[5, 5, 10, 9]], [0.8], [2], one_off)).within
    half = ref_masks.copy()
    half[0, 5:7] = False
    result = compare_detections(ref, _dets([[5, 5, 10, 9]], [0.8], [2], half))
    assert not result.within and result.min_mask_iou == pytest.approx(0.5) and result.max_mask_pixels == 10


def test_mask_pasting_equals_the_models():
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(7, 28, 28, generator=gen)
    boxes = torch.tensor([[10.3, 5.2, 40.8, 33.1],     # inside
                          [2.0, 1.0, 88.5, 58.9],      # wider than 56 px: the model's window matters
                          [-12.0, 30.0, 25.0, 75.0],   # partly outside
                          [44.2, 20.7, 45.1, 21.3],    # below a pixel
                          [30.0, 30.0, 30.0, 50.0],    # zero width
                          [70.0, 40.0, 95.0, 65.0],    # over the right/bottom edges
                          [0.0, 0.0, 90.0, 60.0]])     # the whole image
    ours = paste_masks(probs, boxes, 60, 90, 0.5)
    theirs = paste_masks_in_image(probs[:, None], boxes, 60, 90, 0.5, around_boxes=True)
    assert ours.shape == (7, 60, 90) and ours.dtype == torch.float32
    assert torch.equal(ours.bool(), theirs)


def test_traceable_nms_equals_the_models():
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(300, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=gen) * 30], 1)
    scores = torch.rand(300, generator=gen)
    idxs = torch.randint(0, 4, (300,), generator=gen)
    for cfg in (dict(type="nms", iou_threshold=0.5), dict(type="nms", iou_threshold=0.3, class_agnostic=True),
                dict(type="nms", iou_threshold=0.6, offset=1, score_threshold=0.2, max_num=40)):
        ours, keep = ops.batched_nms(boxes, scores, idxs, cfg)
        theirs, their_keep = model_batched_nms(boxes, scores, idxs, cfg)
        assert torch.equal(keep, their_keep) and torch.equal(ours, theirs)
    multi_scores = torch.softmax(torch.randn(300, 4, generator=gen), 1)
    per_class = torch.cat([boxes + k for k in range(3)], 1)
    ours = ops.multiclass_nms(per_class, multi_scores, 3, True, 0.2, dict(type="nms", iou_threshold=0.5), 50)
    theirs = model_multiclass_nms(per_class, multi_scores, 0.2, dict(type="nms", iou_threshold=0.5), 50)
    assert len(ours[0]) == 50 and torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])


def test_export_input_shape_and_normalisation():
    assert input_shape([800, 1216], 32) == (800, 1216) and input_shape([320], 32) == (320, 320)
    with pytest.raises(ConfigError, match=r"--shape 130 160 is not a multiple of 32") as err:
        input_shape([130, 160], 32)
    assert err.value.hint == "use --shape 160 160"
    with pytest.raises(ConfigError, match="one or two numbers"):
        input_shape([1, 2, 3], None)
    _, _, model = build_tiny("retinanet")
    norm = normalize_cfg(model.cfg)
    img, meta, resized = prepare_input(scene(), (64, 96), norm)
    want, _ = _input(scene(), 64, 96)
    assert resized.shape == (64, 96, 3) and meta["img_shape"] == (64, 96, 3)
    np.testing.assert_allclose(img.numpy(), want.numpy(), atol=1e-5)
