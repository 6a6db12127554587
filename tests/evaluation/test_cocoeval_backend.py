"""faster-coco-eval's matcher against pycocotools' COCOeval: the same numbers on random sets."""

from __future__ import annotations

import contextlib
import io

import faster_coco_eval  # noqa: F401  (a core dependency: its absence must fail the suite, not skip it)
import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detcli.evaluation import MetricError, evaluate_coco
from detcli.evaluation.cocoeval_backend import (
    BACKEND_ENV,
    FASTER,
    PYCOCOTOOLS,
    cocoeval_backend,
    index_predictions,
    run_cocoeval,
)

H, W = 180, 240


def _polygon(rng, x, y, w, h):
    ang = np.linspace(0, 2 * np.pi, 7)[:-1]
    r = 1 + rng.uniform(-0.3, 0.3, 6)
    pts = np.stack([x + w / 2 * (1 + r * np.cos(ang)), y + h / 2 * (1 + r * np.sin(ang))], 1)
    return pts.clip(0, [W - 1, H - 1]).ravel().tolist()


def random_set(seed: int, num_images: int = 30, dets_per_image: int = 25):
    """A COCO ground truth (with crowd regions, sizes from small to large) and jittered/random detections."""
    rng = np.random.default_rng(seed)
    images = [dict(id=10 + i, width=W, height=H, file_name=f"{i}.png") for i in range(num_images)]
    cats = [dict(id=c, name=f"c{c}") for c in (1, 4, 5, 9)]
    anns, dets = [], []
    for img in images:
        objects = []
        for _ in range(rng.integers(0, 8)):
            w, h = rng.uniform(4, 170, 2)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
            cat = cats[rng.integers(len(cats))]["id"]
            poly = _polygon(rng, x, y, w, h)
            rle = mask_util.merge(mask_util.frPyObjects([poly], H, W))
            anns.append(dict(id=len(anns) + 1, image_id=img["id"], category_id=cat, bbox=[x, y, w, h],
                             segmentation=[poly], area=float(mask_util.area(rle)),
                             iscrowd=int(rng.random() < 0.1)))
            objects.append((x, y, w, h, cat))
        for k in range(dets_per_image):
            if objects and k < 3 * len(objects):
                x, y, w, h, cat = objects[k % len(objects)]
                x, y = float(x + rng.normal(0, 0.08 * w)), float(y + rng.normal(0, 0.08 * h))
                w, h = float(w * rng.uniform(0.7, 1.3)), float(h * rng.uniform(0.7, 1.3))
            else:
                w, h = rng.uniform(4, 170, 2)
                x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
                cat = cats[rng.integers(len(cats))]["id"]
            rle = mask_util.merge(mask_util.frPyObjects([_polygon(rng, x, y, w, h)], H, W))
            rle["counts"] = rle["counts"].decode()
            # a few tied scores, as real detectors give
            score = float(rng.choice([0.5, 0.25])) if rng.random() < 0.1 else float(rng.random())
            dets.append(dict(image_id=img["id"], category_id=cat, bbox=[x, y, w, h], score=score, segmentation=rle))
    gt = COCO()
    gt.dataset = dict(images=images, categories=cats, annotations=anns)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt, dets


def _pycocotools_direct(gt, dets, iou_type, max_dets, iou_thrs, use_cats=True):
    """pycocotools run on its own, as mmdetection 2.x runs it."""
    preds = [dict(d) for d in dets]
    if iou_type == "segm":
        for p in preds:
            p.pop("bbox", None)
    else:
        for p in preds:
            p.pop("segmentation", None)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(preds), iou_type)
        ev.params.maxDets = list(max_dets)
        ev.params.iouThrs = iou_thrs
        ev.params.useCats = int(use_cats)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_faster_equals_pycocotools(iou_type, seed):
    gt, dets = random_set(seed)
    if iou_type == "bbox":
        dets = [{k: v for k, v in d.items() if k != "segmentation"} for d in dets]
    thrs = np.linspace(0.5, 0.95, 10)
    ref = _pycocotools_direct(gt, dets, iou_type, (100, 300, 1000), thrs)
    run = run_cocoeval(gt, dets, iou_type, img_ids=sorted(gt.getImgIds()), cat_ids=sorted(gt.getCatIds()),
                       max_dets=(100, 300, 1000), iou_thrs=thrs, backend=FASTER)
    assert run.backend == FASTER
    # the C++ side sums in another order: the last bit of a float64 may differ, never a printed digit
    np.testing.assert_allclose(run.stats, ref.stats, rtol=0, atol=1e-12)
    assert [f"{v:.4f}" for v in run.stats] == [f"{v:.4f}" for v in ref.stats]
    np.testing.assert_allclose(run.coco_eval.eval["precision"], ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(run.coco_eval.eval["recall"], ref.eval["recall"])
    assert 0.03 < run.stats[0] < 0.9 and (run.stats[3:6] > 0).all()  # a case with every size present


def test_faster_equals_pycocotools_on_proposals_and_odd_params():
    gt, dets = random_set(2, dets_per_image=40)
    boxes = [{k: v for k, v in d.items() if k != "segmentation"} for d in dets]
    thrs = np.array([0.5, 0.6, 0.75])
    ref = _pycocotools_direct(gt, boxes, "bbox", (5, 10, 20), thrs, use_cats=False)
    run = run_cocoeval(gt, boxes, "bbox", img_ids=sorted(gt.getImgIds()), cat_ids=sorted(gt.getCatIds()),
                       max_dets=(5, 10, 20), iou_thrs=thrs, use_cats=False, backend=FASTER)
    np.testing.assert_allclose(run.stats, ref.stats, rtol=0, atol=1e-12)
    assert run.summary.splitlines()[0].startswith(" Average Precision  (AP) @[ IoU=0.50:0.75 |")


def test_index_predictions_matches_load_res():
    gt, dets = random_set(3, num_images=5)
    for iou_type in ("bbox", "segm"):
        preds = [{k: v for k, v in d.items() if k != ("segmentation" if iou_type == "bbox" else "bbox")}
                 for d in dets]
        with contextlib.redirect_stdout(io.StringIO()):
            ref = gt.loadRes([dict(p) for p in preds])
        ours = index_predictions(gt, preds, iou_type)
        assert sorted(ours.anns) == sorted(ref.anns)
        for i, ann in ref.anns.items():
            assert ours.anns[i]["area"] == ann["area"]
            assert ours.anns[i]["iscrowd"] == 0 and ours.anns[i]["image_id"] == ann["image_id"]
            assert ours.anns[i]["category_id"] == ann["category_id"] and ours.anns[i]["score"] == ann["score"]
            key = "segmentation" if iou_type == "segm" else "bbox"
            assert ours.anns[i][key] == ann[key]


def test_ground_truth_index_is_left_as_it_was():
    gt, dets = random_set(4, num_images=6)
    before = {i: sorted(a) for i, a in gt.anns.items()}
    run_cocoeval(gt, dets, "segm", img_ids=sorted(gt.getImgIds()), cat_ids=sorted(gt.getCatIds()),
                 max_dets=(100, 300, 1000), iou_thrs=np.linspace(0.5, 0.95, 10), backend=FASTER)
    assert {i: sorted(a) for i, a in gt.anns.items()} == before  # no cached RLEs left in the dataset


def test_backend_choice(monkeypatch, coco_dataset):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert cocoeval_backend() == FASTER
    monkeypatch.setenv(BACKEND_ENV, PYCOCOTOOLS)
    assert cocoeval_backend() == PYCOCOTOOLS
    monkeypatch.setenv(BACKEND_ENV, "fast")
    with pytest.raises(MetricError, match="unknown COCO evaluation backend 'fast'"):
        evaluate_coco(coco_dataset, [[np.array([[0, 0, 9, 9, 0.5]], np.float32)] * 3] * 3, logger="silent")


def test_evaluate_coco_same_under_both_backends(monkeypatch, coco_dataset, capsys):
    rng = np.random.default_rng(5)
    results = []
    for img_id in coco_dataset.img_ids:
        boxes = [[] for _ in range(3)]
        for label, box, _ in coco_dataset.gt_masks(img_id):
            for _ in range(3):
                d = rng.integers(-15, 16, 2)
                boxes[label].append(list(np.add(box, [d[0], d[1], d[0], d[1]])) + [rng.random()])
        results.append([np.array(b, np.float32).reshape(-1, 5) for b in boxes])
    outs, texts = [], []
    for backend in (PYCOCOTOOLS, FASTER):
        monkeypatch.setenv(BACKEND_ENV, backend)
        outs.append(evaluate_coco(coco_dataset, results, metric=["bbox", "proposal"], classwise=True))
        texts.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert texts[0] == texts[1] and "AP per category" in texts[0]
    assert 0 < outs[0]["bbox_mAP"] < 1
