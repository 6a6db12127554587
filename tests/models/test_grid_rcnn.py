"""Grid R-CNN: heatmap targets, boxes from heatmaps, training losses."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cascade_toys import build, cascade_cfg, meta, train_batch  # noqa: E402

from detcli.errors import ConfigError  # noqa: E402
from detcli.registry import HEADS  # noqa: E402


def grid_head(**kwargs):
    cfg = dict(type="GridHead", grid_points=9, num_convs=1, roi_feat_size=14, in_channels=8, point_feat_channels=4,
               norm_cfg=dict(type="GN", num_groups=9))
    return HEADS.build(dict(cfg, **kwargs))


def test_point_regions_of_the_3x3_grid():
    head = grid_head()
    assert head.whole_map_size == 56
    # corners in a corner quarter, edge midpoints and centre straddle the middle (x1 = (0.5 - 0.25) * 56)
    assert head.sub_regions[0] == (0, 0, 28, 28) and head.sub_regions[4] == (14, 14, 42, 42)
    assert head.sub_regions[8] == (28, 28, 56, 56) and head.sub_regions[3] == (14, 0, 42, 28)
    assert head.neighbor_points[4] == (1, 3, 5, 7) and sorted(head.neighbor_points[0]) == [1, 3]
    with pytest.raises(ConfigError, match="square"):
        grid_head(grid_points=8, norm_cfg=None)


def _naive_targets(head, boxes, gts, radius):
    """The target definition written out per RoI, point and pixel."""
    m, size = head.whole_map_size, head.grid_size
    out = torch.zeros(len(boxes), head.grid_points, m, m)
    for i, ((x1, y1, x2, y2), (gx1, gy1, gx2, gy2)) in enumerate(zip(boxes.tolist(), gts.tolist())):
        w, h = x2 - x1, y2 - y1
        x1, y1, w, h = x1 - w / 2, y1 - h / 2, 2 * w, 2 * h
        if w <= size or h <= size:
            continue
        for j in range(head.grid_points):
            fx, fy = 1 - (j // size) / (size - 1), 1 - (j % size) / (size - 1)
            cx = int((fx * gx1 + (1 - fx) * gx2 - x1) / w * m)
            cy = int((fy * gy1 + (1 - fy) * gy2 - y1) / h * m)
            for x in range(cx - radius, cx + radius + 1):
                for y in range(cy - radius, cy + radius + 1):
                    if 0 <= x < m and 0 <= y < m and (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2:
                        out[i, j, y, x] = 1
    return torch.cat([out[:, [j], y1:y2, x1:x2] for j, (x1, y1, x2, y2) in enumerate(head.sub_regions)], dim=1)


@pytest.mark.parametrize("radius", [1, 2])
def test_heatmap_targets_equal_their_definition(radius):
    head = grid_head()
    g = torch.Generator().manual_seed(0)
    boxes = torch.rand(12, 2, generator=g) * 50
    boxes = torch.cat([boxes, boxes + 2 + torch.rand(12, 2, generator=g) * 40], dim=1)
    boxes[0, 2:] = boxes[0, :2] + 1.0  # too small to place points: no targets
    gts = boxes + torch.randn(12, 4, generator=g) * 3
    results = [SimpleNamespace(pos_bboxes=boxes[:7], pos_gt_bboxes=gts[:7]),
               SimpleNamespace(pos_bboxes=boxes[7:], pos_gt_bboxes=gts[7:])]
    targets = head.get_targets(results, dict(pos_radius=radius))
    assert targets.shape == (12, 9, 28, 28) and targets[0].sum() == 0 and targets.sum() > 50
    torch.testing.assert_close(targets, _naive_targets(head, boxes, gts, radius))


def test_boxes_from_heatmap_peaks():
    """One peak per point map: each edge is the score-weighted mean of its three points."""
    head = grid_head()
    det = torch.tensor([[10.0, 20.0, 50.0, 100.0, 0.9]])  # the grid covers twice this: x from -10, w 80
    heat = torch.full((1, 9, 28, 28), -20.0)
    peaks = {}
    for j in range(9):
        x1, y1 = head.sub_regions[j][:2]
        px, py = 5 + j, 7 + j  # in the point's own region
        heat[0, j, py, px] = 3.0 + j * 0.1
        # the 56-cell map spans the enlarged box: 80 x 160 pixels from (-10, -20)
        peaks[j] = ((x1 + px + 0.5) / 56 * 80 - 10, (y1 + py + 0.5) / 56 * 160 - 20, torch.sigmoid(heat[0, j, py, px]))
    box = head.get_bboxes(det, heat, [dict(img_shape=(200, 200, 3))])[0]

    def edge(points, axis):
        weights = [peaks[p][2] for p in points]
        return sum(peaks[p][axis] * w for p, w in zip(points, weights)) / sum(weights)

    expected = [edge([0, 1, 2], 0), edge([0, 3, 6], 1), edge([6, 7, 8], 0), edge([2, 5, 8], 1), 0.9]
    torch.testing.assert_close(box, torch.tensor(expected, dtype=torch.float32))


def _grid_cfg() -> dict:
    cfg = cascade_cfg("cascade")
    cfg["type"] = "GridRCNN"
    cfg["roi_head"] = dict(
        type="GridRoIHead",
        bbox_roi_extractor=cfg["roi_head"]["bbox_roi_extractor"],
        bbox_head=dict(cfg["roi_head"]["bbox_head"][0], with_reg=False, reg_class_agnostic=False),
        grid_roi_extractor=dict(type="SingleRoIExtractor", roi_layer=dict(type="RoIAlign", output_size=14,
                                sampling_ratio=0), out_channels=16, featmap_strides=[4, 8, 16, 32]),
        grid_head=dict(type="GridHead", grid_points=9, num_convs=2, in_channels=16, point_feat_channels=4,
                       norm_cfg=dict(type="GN", num_groups=9)))
    rcnn = copy.deepcopy(cfg["train_cfg"]["rcnn"][0])
    cfg["train_cfg"]["rcnn"] = dict(rcnn, pos_radius=1, max_num_grid=16)
    return cfg


def test_grid_rcnn_trains_and_detects():
    torch.manual_seed(0)
    model = build(_grid_cfg()).train()
    losses = model(return_loss=True, **train_batch())
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_grid"}
    total, _ = model._parse_losses(losses)
    total.backward()
    assert model.roi_head.grid_head.deconv2.weight.grad.abs().sum() > 0
    assert model.roi_head.grid_head.forder_trans[4][0][1].weight.grad.abs().sum() > 0  # fusion learns too
    model.eval()
    with torch.no_grad():
        result = model(return_loss=False, rescale=True, img=[train_batch()["img"]], img_metas=[[meta()]])[0]
    assert len(result) == 2 and sum(len(r) for r in result) > 0 and all(r.shape[1] == 5 for r in result)


def test_the_mask_head_segments_the_grid_refined_boxes():
    """As in 2.x: masks are made for the boxes the grid head returns (rescaled), not for the box head's."""
    import numpy as np

    cfg = _grid_cfg()
    masked = cascade_cfg("cascade", with_mask=True)["roi_head"]
    cfg["roi_head"].update(mask_roi_extractor=masked["mask_roi_extractor"], mask_head=masked["mask_head"])
    cfg["train_cfg"]["rcnn"]["mask_size"] = 28
    cfg["test_cfg"]["rcnn"]["mask_thr_binary"] = 0.5
    torch.manual_seed(0)
    model = build(cfg).eval()
    seen = []
    segment = model.roi_head.simple_test_mask

    def spy(x, img_metas, det_bboxes, det_labels, rescale=False):
        seen.append([b.clone() for b in det_bboxes])
        return segment(x, img_metas, det_bboxes, det_labels, rescale=rescale)

    model.roi_head.simple_test_mask = spy
    halved = dict(meta(), ori_shape=(48, 64, 3), scale_factor=np.full(4, 2.0, dtype=np.float32))
    with torch.no_grad():
        bbox_result, segm_result = model(return_loss=False, rescale=True, img=[train_batch()["img"]],
                                         img_metas=[[halved]])[0]
    boxes = np.concatenate(bbox_result)
    assert len(boxes) > 0 and len(seen) == 1
    given = seen[0][0].numpy()
    assert sorted(map(tuple, given.round(4))) == sorted(map(tuple, boxes.round(4)))
    assert [len(s) for s in segm_result] == [len(b) for b in bbox_result]
    assert all(np.asarray(m).shape == (48, 64) for masks in segm_result for m in masks)
