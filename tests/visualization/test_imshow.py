"""imshow_det_bboxes & co: pixels are checked against hand-computed colours and blends."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_util

from detcli.errors import DetError
from detcli.visualization import (
    COCO_PALETTE,
    get_palette,
    imshow_det_bboxes,
    imshow_gt_det_bboxes,
    random_palette,
    result_to_arrays,
)


def _blank(value: int = 0, h: int = 64, w: int = 96) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)


def test_box_edges_take_the_rgb_colour_in_bgr_order():
    img = _blank(0, 128, 160)
    out = imshow_det_bboxes(img, np.array([[10, 20, 150, 120, 0.9]], np.float32), np.array([0]),
                            bbox_color=(255, 0, 0), text_color=(255, 0, 0), thickness=1, show=False)
    # Right edge (x=150) half way down, away from the label tag: pure red in BGR.
    assert out[70, 150].tolist() == [0, 0, 255]
    assert out[120, 80].tolist() == [0, 0, 255]  # bottom edge
    assert out[100, 80].tolist() == [0, 0, 0]  # inside the box, below the tag: untouched
    assert img.sum() == 0  # the input is not drawn on


def test_score_threshold_drops_low_boxes():
    boxes = np.array([[10, 10, 60, 60, 0.9], [80, 70, 150, 120, 0.2]], np.float32)
    out = imshow_det_bboxes(_blank(0, 128, 160), boxes, np.array([0, 1]), score_thr=0.3,
                            bbox_color="white", thickness=1, show=False)
    assert out[50, 60].tolist() == [255, 255, 255]  # right edge of the kept box, below its tag
    assert out[100, 150].tolist() == [0, 0, 0]  # the 0.2 box's right edge is not drawn
    assert out[120, 100].tolist() == [0, 0, 0]


def test_mask_is_blended_half_way_and_overlaps_blend_once():
    img = _blank(100, 128, 160)
    masks = np.zeros((2, 128, 160), bool)
    masks[0, 10:60, 10:60] = True
    masks[1, 40:100, 40:100] = True
    out = imshow_det_bboxes(img, None, np.array([0, 1]), masks, class_names=["a", "b"],
                            mask_color=[(200, 0, 0), (0, 0, 200)], show=False)
    # class 0 (RGB 200,0,0 -> BGR 0,0,200): 100*0.5 + c*0.5
    assert out[12, 12].tolist() == [50, 50, 150]
    # the overlap shows the later mask once, not a blend of a blend
    assert out[55, 55].tolist() == [150, 50, 50]
    assert out[120, 150].tolist() == [100, 100, 100]
    assert out[10, 30].tolist() == [255, 255, 255]  # white outline on the mask's edge


def test_label_tag_has_the_size_of_name_and_score():
    img = _blank(200, 120, 200)
    out = imshow_det_bboxes(img, np.array([[40, 50, 180, 110, 0.875]], np.float32), np.array([1]),
                            class_names=["dog", "cat"], bbox_color="black", text_color="black",
                            thickness=1, font_scale=0.5, show=False)
    (tw, th), base = cv2.getTextSize("cat|0.88", cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    row = out[51 + 1, :]  # first row of the tag, above the text glyphs
    darkened = np.flatnonzero((row == 80).all(axis=1))  # 200 * 0.4
    assert darkened.min() == 41 and darkened.max() == 41 + tw + 4 - 1
    tag = out[51:51 + th + base + 4, 41:41 + tw + 4]
    assert (tag == 0).all(axis=2).sum() > 10  # black text glyphs inside the tag


def test_mask_only_labels_sit_on_the_mask():
    img = _blank(200, 100, 100)
    masks = np.zeros((1, 100, 100), bool)
    masks[0, 30:70, 30:70] = True
    out = imshow_det_bboxes(img, None, np.array([0]), masks, class_names=["x"], mask_color=(0, 0, 0),
                            text_color="white", show=False)
    # the tag (darkened background + white glyph) is centred on (50, 50)
    assert (out[45:56, 45:56] >= 240).all(axis=2).any()
    assert not (out[:25] >= 240).all(axis=2).any()


def test_out_file_written_and_equals_return(tmp_path):
    out_file = tmp_path / "sub" / "vis.png"
    out = imshow_det_bboxes(_blank(), np.array([[1, 1, 20, 20]], np.float32), np.array([0]), show=False,
                            out_file=out_file)
    assert np.array_equal(cv2.imread(str(out_file)), out)
    assert [p.name for p in out_file.parent.iterdir()] == ["vis.png"]  # no temp file left


def test_show_without_display_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    with pytest.raises(DetError) as info:
        imshow_det_bboxes(_blank(), np.array([[1, 1, 20, 20]], np.float32), np.array([0]), show=True)
    message = str(info.value)
    assert "\n" not in message and "display" in message
    assert info.value.hint and "out" in info.value.hint


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(n, 4\) or \(n, 5\)"):
        imshow_det_bboxes(_blank(), np.zeros((2, 3)), np.zeros(2), show=False)
    with pytest.raises(ValueError, match="with a score"):
        imshow_det_bboxes(_blank(), np.zeros((1, 4)), np.zeros(1), score_thr=0.5, show=False)


def test_palettes():
    assert get_palette("coco", 80) == COCO_PALETTE and get_palette("coco", 80)[0] == (220, 20, 60)
    assert get_palette("voc", 20)[0] == (106, 0, 228)
    assert get_palette("citys", 8)[1] == (255, 0, 0)
    assert get_palette((1, 2, 3), 3) == [(1, 2, 3)] * 3
    assert get_palette("red", 2) == [(255, 0, 0)] * 2
    extended = get_palette("coco", 85)
    assert len(extended) == 85 and extended[:80] == COCO_PALETTE
    state = np.random.get_state()[1].copy()
    assert random_palette(5) == get_palette("random", 5) == get_palette(None, 5)
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG untouched
    with pytest.raises(ValueError, match="3 classes"):
        get_palette([(0, 0, 0)], 3)


def test_result_to_arrays_accepts_arrays_and_rle():
    m = np.zeros((8, 9), bool)
    m[2:5, 3:7] = True
    rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
    rle_str = dict(rle, counts=rle["counts"].decode())  # as json-loaded results hold it
    bbox_result = [np.array([[1, 2, 3, 4, 0.5]], np.float32), np.zeros((0, 5), np.float32),
                   np.array([[5, 6, 7, 8, 0.7]], np.float32)]
    bboxes, labels, segms = result_to_arrays((bbox_result, [[m], [], [rle_str]]))
    assert bboxes.shape == (2, 5) and labels.tolist() == [0, 2]
    assert segms.shape == (2, 8, 9) and segms.dtype == bool
    assert np.array_equal(segms[0], m) and np.array_equal(segms[1], m)
    b2, l2, s2 = result_to_arrays(bbox_result)
    assert s2 is None and np.array_equal(b2, bboxes)


def test_gt_and_detections_side_by_side():
    img = _blank(0, 160, 200)
    ann = {"gt_bboxes": np.array([[5, 5, 60, 60]], np.float32), "gt_labels": np.array([0])}
    result = [np.array([[100, 80, 180, 150, 0.9]], np.float32)]
    stacked = imshow_gt_det_bboxes(img, ann, result, show=False, overlay_gt_pred=False, thickness=1)
    assert stacked.shape == (320, 200, 3)
    assert stacked[40, 60].tolist() == [255, 102, 61]  # gt box, RGB (61,102,255) in BGR, top half
    assert stacked[160 + 120, 180].tolist() == [72, 101, 241]  # detection box in the lower half
    assert stacked[120, 180].tolist() == [0, 0, 0]  # ... and not in the upper one
    overlay = imshow_gt_det_bboxes(img, ann, result, show=False, thickness=1)
    assert overlay.shape == (160, 200, 3)
    assert overlay[40, 60].tolist() == [255, 102, 61] and overlay[120, 180].tolist() == [72, 101, 241]


def test_draw_detections_filters_by_score_and_saving_wins_over_show(tmp_path, monkeypatch):
    from detcli.visualization import draw_detections

    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    result = [np.array([[10, 10, 60, 60, 0.9]], np.float32), np.array([[80, 70, 150, 120, 0.1]], np.float32)]
    out = draw_detections(_blank(0, 128, 160), result, ["a", "b"], score_thr=0.3, bbox_color=(0, 255, 0),
                          thickness=1, show=True, out_file=tmp_path / "o.png")  # no window: the file is written
    assert out[50, 60].tolist() == [0, 255, 0] and out[100, 150].tolist() == [0, 0, 0]
    assert np.array_equal(cv2.imread(str(tmp_path / "o.png")), out)
    proposals = np.array([[5, 5, 40, 40, 0.8], [50, 50, 90, 90, 0.7]], np.float32)  # an RPN result
    drawn = draw_detections(_blank(0, 128, 160), proposals, None, score_thr=0, bbox_color="red", thickness=1)
    assert drawn[85, 90].tolist() == [0, 0, 255]  # right edge of the second proposal, below its tag
