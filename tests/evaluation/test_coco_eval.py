"""COCO evaluation against hand-computed values and against pycocotools run directly."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.cocoeval import COCOeval

from detcli.errors import DataError
from detcli.evaluation import MetricError, evaluate_coco, format_coco_results

NUM_CLASSES = 3


def _shift_mask(mask: np.ndarray, dx: int) -> np.ndarray:
    out = np.zeros_like(mask)
    out[:, dx:] = mask[:, : mask.shape[1] - dx] if dx else mask
    return out


def make_results(ds, with_masks=False, shift=None, drop_classes=(), extras=False):
    """Ground truth turned into detections; ``shift[label]`` moves boxes right by w/5 (IoU 2/3)."""
    shift = shift or {}
    results = []
    for img_id in ds.img_ids:
        boxes = [[] for _ in range(NUM_CLASSES)]
        masks = [[] for _ in range(NUM_CLASSES)]
        for label, (x1, y1, x2, y2), mask in ds.gt_masks(img_id):
            if label in drop_classes:
                continue
            dx = int(round((x2 - x1) / 5)) if shift.get(label) else 0
            boxes[label].append([x1 + dx, y1, x2 + dx, y2, 0.9])
            masks[label].append(_shift_mask(mask, dx))
        if extras and img_id == 13:  # a detection on the crowd region: ignored, not a false positive
            boxes[0].append([120, 120, 180, 180, 0.95])
            crowd = np.zeros((200, 200), bool)
            crowd[120:180, 120:180] = True
            masks[0].append(crowd)
        bbox_result = [np.array(b, np.float32).reshape(-1, 5) for b in boxes]
        results.append((bbox_result, masks) if with_masks else bbox_result)
    return results


def test_perfect_detections_give_ap_one(coco_dataset):
    out = evaluate_coco(coco_dataset, make_results(coco_dataset, with_masks=True, extras=True),
                        metric=["bbox", "segm"], logger="silent")
    for m in ("bbox", "segm"):
        assert out[f"{m}_mAP"] == 1.0 and out[f"{m}_mAP_50"] == 1.0 and out[f"{m}_mAP_75"] == 1.0
        assert out[f"{m}_mAP_s"] == -1.0  # no small objects in this ground truth
        assert out[f"{m}_mAP_m"] == 1.0 and out[f"{m}_mAP_l"] == 1.0
    assert out["bbox_mAP_copypaste"] == "1.0000 1.0000 1.0000 -1.0000 1.0000 1.0000"


def test_shifted_boxes_have_known_ap(coco_dataset):
    # every box moved by a fifth of its width: IoU = 0.8 / 1.2 = 2/3 >= 0.50 ... 0.65, < 0.70
    out = evaluate_coco(coco_dataset, make_results(coco_dataset, shift={0: 1, 1: 1, 2: 1}), logger="silent")
    assert out["bbox_mAP"] == pytest.approx(0.4)
    assert out["bbox_mAP_50"] == 1.0 and out["bbox_mAP_75"] == 0.0


def test_segm_on_polygon_and_rle_ground_truth(coco_dataset):
    # cats have RLE (img 12) and polygon (img 11) ground truth, dogs polygons, the bird a triangle polygon
    results = make_results(coco_dataset, with_masks=True, shift={0: 1, 1: 1, 2: 1})
    out = evaluate_coco(coco_dataset, results, metric="segm", logger="silent")
    # rectangles shifted by w/5 keep IoU 2/3; the triangle's IoU is measured here directly
    (_, _, tri), = [g for g in coco_dataset.gt_masks(12) if g[0] == 2]
    moved = _shift_mask(tri, 10)
    tri_iou = (tri & moved).sum() / (tri | moved).sum()
    thrs = np.linspace(0.5, 0.95, 10)
    bird_ap = (thrs <= tri_iou + 1e-12).mean()
    assert out["segm_mAP"] == pytest.approx(round((0.4 + 0.4 + bird_ap) / 3, 4))


def test_classwise_table_and_mixed_classes(coco_dataset):
    records = []
    logger = logging.getLogger("detcli.test.classwise")
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        out = evaluate_coco(coco_dataset, make_results(coco_dataset, shift={1: 1}, drop_classes=(2,)),
                            logger=logger, classwise=True)
    finally:
        logger.removeHandler(handler)
    assert out["bbox_mAP"] == pytest.approx(round((1.0 + 0.4 + 0.0) / 3, 4))
    text = "\n".join(r.getMessage() for r in records)
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 4}
    assert "1.000" in rows["cat"] and "0.400" in rows["dog"] and "0.000" in rows["bird"]
    # AP_50 of the shifted dogs is 1, AP_75 is 0
    dog_cells = [c.strip() for c in rows["dog"].split("│")[1:-1]]
    assert dog_cells == ["dog", "0.400", "1.000", "0.000"]


def _pycocotools_stats(ds, results, iou_type):
    """COCOeval run directly on json written here, with the 2.x evaluation parameters."""
    entries = []
    for img_id, result in zip(ds.img_ids, results):
        bbox_result, segm_result = result if isinstance(result, tuple) else (result, None)
        for label, boxes in enumerate(bbox_result):
            for k, (x1, y1, x2, y2, s) in enumerate(boxes.tolist()):
                e = {"image_id": img_id, "category_id": ds.cat_ids[label], "score": s}
                if iou_type == "bbox":
                    e["bbox"] = [x1, y1, x2 - x1, y2 - y1]
                else:
                    rle = mask_util.encode(np.asfortranarray(segm_result[label][k].astype(np.uint8)))
                    e["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
                entries.append(e)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(ds.coco, ds.coco.loadRes(entries), iou_type)
        ev.params.maxDets = [100, 300, 1000]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_equals_pycocotools_on_noisy_detections(coco_dataset):
    rng = np.random.RandomState(3)
    results = []
    for img_id in coco_dataset.img_ids:
        boxes = [[] for _ in range(NUM_CLASSES)]
        masks = [[] for _ in range(NUM_CLASSES)]
        for label, box, mask in coco_dataset.gt_masks(img_id):
            for _ in range(3):  # jittered duplicates with random scores
                dx, dy = rng.randint(-12, 13, 2)
                boxes[label].append(list(np.add(box, [dx, dy, dx, dy])) + [rng.rand()])
                masks[label].append(np.roll(mask, (dy, dx), axis=(0, 1)))
        for _ in range(4):  # false positives
            x, y = rng.randint(0, 150, 2)
            label = rng.randint(NUM_CLASSES)
            boxes[label].append([x, y, x + 40, y + 30, rng.rand()])
            m = np.zeros((200, 200), bool)
            m[y:y + 30, x:x + 40] = True
            masks[label].append(m)
        results.append(([np.array(b, np.float32).reshape(-1, 5) for b in boxes], masks))
    out = evaluate_coco(coco_dataset, results, metric=["bbox", "segm"], logger="silent")
    for iou_type in ("bbox", "segm"):
        stats = _pycocotools_stats(coco_dataset, results, iou_type)
        names = ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]
        assert [out[f"{iou_type}_{n}"] for n in names] == [round(float(v), 4) for v in stats[:6]]
        assert 0.1 < out[f"{iou_type}_mAP"] < 0.95  # a non-trivial case


@pytest.fixture
def proposal_results(coco_dataset):
    out = []
    for img_id in coco_dataset.img_ids:
        boxes = [b + [0.9] for _, b, _ in coco_dataset.gt_masks(img_id)]
        out.append(np.array(boxes, np.float32).reshape(-1, 5))
    return out


def _shift_proposals(props):
    moved = [p.copy() for p in props]
    for p in moved:
        dx = (p[:, 2] - p[:, 0]) / 5
        p[:, 0] += dx
        p[:, 2] += dx
    return moved


def test_proposal_and_proposal_fast(coco_dataset, proposal_results):
    perfect = evaluate_coco(coco_dataset, proposal_results, metric=["proposal", "proposal_fast"], logger="silent")
    assert perfect["AR@100"] == 1.0 and perfect["AR@1000"] == 1.0 and perfect["AR_l@1000"] == 1.0
    shifted = _shift_proposals(proposal_results)
    out = evaluate_coco(coco_dataset, shifted, metric="proposal", logger="silent")
    assert out["AR@100"] == pytest.approx(0.4) and out["AR@300"] == pytest.approx(0.4)
    fast = evaluate_coco(coco_dataset, shifted, metric="proposal_fast", logger="silent")
    assert fast["AR@100"] == pytest.approx(0.4) and fast["AR@1000"] == pytest.approx(0.4)
    few = evaluate_coco(coco_dataset, proposal_results, metric="proposal_fast", proposal_nums=(1, 10),
                        logger="silent")
    # one proposal per image covers one of the 5 non-crowd objects in each image (2 + 2 + 1)
    assert few["AR@1"] == pytest.approx(3 / 5) and few["AR@10"] == 1.0


def test_iou_thrs_and_metric_items(coco_dataset):
    results = make_results(coco_dataset, shift={0: 1, 1: 1, 2: 1})
    out = evaluate_coco(coco_dataset, results, iou_thrs=[0.5], metric_items=["mAP"], logger="silent")
    assert out == {"bbox_mAP": 1.0, "bbox_mAP_copypaste": out["bbox_mAP_copypaste"]}
    out = evaluate_coco(coco_dataset, results, iou_thrs=[0.7, 0.8], metric_items="mAP", logger="silent")
    assert out["bbox_mAP"] == 0.0


def test_format_results_writes_valid_coco_json(coco_dataset, tmp_path):
    results = make_results(coco_dataset, with_masks=True)
    files, tmp_dir = format_coco_results(coco_dataset, results, jsonfile_prefix=str(tmp_path / "out" / "res"))
    assert tmp_dir is None
    assert files["bbox"] == str(tmp_path / "out" / "res.bbox.json") == files["proposal"]
    assert files["segm"] == str(tmp_path / "out" / "res.segm.json")
    bbox = json.loads((tmp_path / "out" / "res.bbox.json").read_text())
    segm = json.loads((tmp_path / "out" / "res.segm.json").read_text())
    assert len(bbox) == len(segm) == 5
    dog = [e for e in bbox if e["image_id"] == 11 and e["category_id"] == 3]
    assert dog == [{"image_id": 11, "bbox": [120.0, 20.0, 60.0, 60.0], "score": pytest.approx(0.9),
                    "category_id": 3}]
    cat12 = next(e for e in segm if e["image_id"] == 12 and e["category_id"] == 1)
    assert isinstance(cat12["segmentation"]["counts"], str)
    decoded = mask_util.decode(dict(cat12["segmentation"], counts=cat12["segmentation"]["counts"].encode()))
    assert decoded.sum() == 100 * 100 and decoded[50:150, 50:150].all()
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools accepts both files
        assert len(coco_dataset.coco.loadRes(files["bbox"]).anns) == 5
        assert len(coco_dataset.coco.loadRes(files["segm"]).anns) == 5
    props, tmp = format_coco_results(coco_dataset, [r[0][0] for r in results])
    assert set(props) == {"proposal"} and props["proposal"].endswith("results.proposal.json")
    tmp.cleanup()


def test_jsonfile_prefix_in_evaluate(coco_dataset, tmp_path):
    evaluate_coco(coco_dataset, make_results(coco_dataset), jsonfile_prefix=str(tmp_path / "r"), logger="silent")
    assert json.loads((tmp_path / "r.bbox.json").read_text())[0]["category_id"] in (1, 3, 7)


def test_user_errors(coco_dataset):
    results = make_results(coco_dataset)
    with pytest.raises(MetricError, match="'mAP' is not supported") as info:
        evaluate_coco(coco_dataset, results, metric="mAP")
    assert "bbox" in info.value.hint
    with pytest.raises(DataError, match="2 results for a dataset of 3 images"):
        evaluate_coco(coco_dataset, results[:2])
    with pytest.raises(MetricError, match="segm"):
        evaluate_coco(coco_dataset, results, metric="segm", logger="silent")
    with pytest.raises(MetricError, match="metric item"):
        evaluate_coco(coco_dataset, results, metric_items=["AP@7"])


def test_empty_results_say_no_detections(coco_dataset, capsys):
    empty = [[np.zeros((0, 5), np.float32)] * NUM_CLASSES for _ in coco_dataset.img_ids]
    assert evaluate_coco(coco_dataset, empty) == {}
    out = capsys.readouterr().out
    assert "no detections: the bbox results of all 3 images are empty" in out
    # recall needs no detections to be computed: it is 0
    assert evaluate_coco(coco_dataset, empty, metric=["bbox", "proposal_fast"], logger="silent") == {
        "AR@100": 0.0, "AR@300": 0.0, "AR@1000": 0.0}


def test_proposal_fast_on_mask_results_uses_their_boxes(coco_dataset):
    with_masks = make_results(coco_dataset, with_masks=True, shift={0: 1})
    boxes_only = [bbox for bbox, _ in with_masks]
    on_masks = evaluate_coco(coco_dataset, with_masks, metric=["bbox", "segm", "proposal_fast"], logger="silent")
    on_boxes = evaluate_coco(coco_dataset, boxes_only, metric="proposal_fast", logger="silent")
    assert {k: on_masks[k] for k in on_boxes} == on_boxes
    assert 0.0 < on_boxes["AR@100"] < 1.0
    assert {"bbox_mAP", "segm_mAP"} <= set(on_masks)


def test_a_metric_the_results_cannot_give_fails_before_any_is_printed(coco_dataset, capsys):
    boxes_only = make_results(coco_dataset)
    with pytest.raises(MetricError, match="'segm' needs segm results"):
        evaluate_coco(coco_dataset, boxes_only, metric=["bbox", "segm"])
    assert capsys.readouterr().out == ""


def test_tables_show_brackets_in_names_as_written(capsys):
    from detcli.evaluation.report import emit, make_table

    emit(make_table(["class", "ap"], [["[bold]car[/bold]", "0.5"], ["bus [x]", "0.25"]], title="[red]t"))
    emit("AR [optional] done")
    out = capsys.readouterr().out
    assert "[bold]car[/bold]" in out and "bus [x]" in out and "[red]t" in out
    assert "AR [optional] done" in out


@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_cyclic_collector_is_off_during_evaluation_and_restored_after(coco_dataset, monkeypatch, enabled_before):
    """Both entry points (det test's ``evaluate_coco``, the robustness/report ``run_coco_eval``)."""
    import gc

    from detcli.evaluation import coco_eval, cocoeval_backend
    from detcli.evaluation.coco_summary import run_coco_eval

    seen = []
    real = cocoeval_backend.run_cocoeval

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(coco_eval, "run_cocoeval", spy)
    monkeypatch.setattr(cocoeval_backend, "run_cocoeval", spy)
    results = make_results(coco_dataset, with_masks=True)
    (gc.enable if enabled_before else gc.disable)()
    try:
        out = evaluate_coco(coco_dataset, results, metric=["bbox", "segm"], logger="silent")
        assert gc.isenabled() is enabled_before
        evals = run_coco_eval(coco_dataset, results, ["bbox", "segm"])
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()
    assert seen == [False] * 4
    assert out["bbox_mAP"] == 1.0 and out["segm_mAP"] == 1.0
    assert evals["bbox"].stats[0] == pytest.approx(1.0) and evals["segm"].stats[0] == pytest.approx(1.0)
