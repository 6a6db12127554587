"""What ``det analyze-results`` does: score every test image on its own, draw the best and the worst.

Each image gets the mAP of its boxes alone (VOC-style AP averaged over IoU 0.50:0.05:0.95,
over the classes present in it, as mmdetection's ``analyze_results.py``); the ``topk``
highest go to ``OUT_DIR/good/``, the ``topk`` lowest to ``OUT_DIR/bad/``, each drawn with its
ground truth above its detections and named ``<image>_<mAP>.<ext>``. ``OUT_DIR/analyze_results.json``
lists every image's mAP and the two selections.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detcli.errors import ConfigError, DataError

LOADING_STEPS = ("LoadImageFromFile", "LoadAnnotations")


def image_map(result: Any, annotation: dict) -> float:
    """mAP of one image's detections (boxes only) averaged over the COCO IoU thresholds."""
    from detcli.evaluation.coco_eval import default_iou_thrs
    from detcli.evaluation.mean_ap import eval_map

    bbox_result = result[0] if isinstance(result, tuple) else result
    aps = [eval_map([bbox_result], [annotation], iou_thr=float(t), logger="silent")[0] for t in default_iou_thrs()]
    return float(sum(aps) / len(aps))


def rank_images(dataset: Any, results: Sequence[Any]) -> list[tuple[int, float]]:
    """``(index, mAP)`` of every image, lowest mAP first (ties in dataset order)."""
    from detcli.apis.progress import progress_bar

    scores = []
    with progress_bar(len(results), "per-image mAP") as bar:
        for i, result in enumerate(results):
            scores.append((i, image_map(result, dataset.get_ann_info(i))))
            bar.advance()
    return sorted(scores, key=lambda item: item[1])


def pick_best_and_worst(ranked: list[tuple[int, float]], topk: int) -> tuple[list, list]:
    """The ``topk`` best (ascending, as mmdetection lists them) and worst; ``topk`` at most half the images."""
    if topk < 1:
        raise ConfigError(f"--topk must be at least 1, got {topk}")
    topk = min(topk, len(ranked) // 2)
    if topk == 0:
        return [], []
    return ranked[-topk:], ranked[:topk]


def _train_steps(train_cfg: Any) -> list:
    while isinstance(train_cfg, dict) and "pipeline" not in train_cfg and "dataset" in train_cfg:
        train_cfg = train_cfg["dataset"]  # RepeatDataset, ClassBalancedDataset, MultiImageMixDataset...
    if isinstance(train_cfg, dict) and "datasets" in train_cfg:
        train_cfg = train_cfg["datasets"][0]
    if isinstance(train_cfg, (list, tuple)):
        train_cfg = train_cfg[0]
    return list(train_cfg.get("pipeline", [])) if isinstance(train_cfg, dict) else []


def loading_pipeline(cfg: Any) -> list[dict]:
    """The image and annotation loading steps of the train pipeline (what the drawings need)."""
    from detcli.data.pipelines import PIPELINES

    loading = tuple(PIPELINES.get(name) for name in LOADING_STEPS)
    steps = [dict(s) for s in _train_steps(cfg.data.get("train", {}))
             if isinstance(PIPELINES.get(s.get("type")), type) and issubclass(PIPELINES.get(s.get("type")), loading)]
    if not any(issubclass(PIPELINES.get(s["type"]), loading[0]) for s in steps):
        steps.insert(0, dict(type="LoadImageFromFile"))
    if not any(issubclass(PIPELINES.get(s["type"]), loading[1]) for s in steps):
        steps.append(dict(type="LoadAnnotations", with_bbox=True))
    return steps


def build_test_set(config: str, cfg_options: dict[str, Any] | None = None) -> Any:
    """``data.test`` in test mode, loading images and annotations only."""
    from detcli.config import load_config
    from detcli.data import build_dataset

    cfg = load_config(config, cfg_options or {})
    test = cfg.data.test
    if isinstance(test, list):
        raise ConfigError(f"{config}: data.test is a list of datasets; analyze-results takes one")
    test.test_mode = True
    test.pop("samples_per_gpu", None)
    test.pipeline = loading_pipeline(cfg)
    return build_dataset(test)


def _out_name(sample: dict, score: float) -> str:
    filename = sample.get("filename") or sample["img_info"]["filename"]
    stem, ext = os.path.splitext(os.path.basename(filename))
    return f"{stem}_{round(score, 3)}{ext or '.png'}"


def draw_images(dataset: Any, results: Sequence[Any], picked: list[tuple[int, float]], out_dir: Path,
                score_thr: float = 0.0, show: bool = False, wait_time: float = 0.0,
                overlay_gt_pred: bool = False) -> list[str]:
    """Ground truth and detections of each picked image, saved as ``<image>_<mAP>.<ext>`` in ``out_dir``."""
    from detcli.visualization import imshow_gt_det_bboxes

    palette = getattr(dataset, "PALETTE", None) or "random"
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, score in picked:
        sample = dataset.prepare_train_img(index)
        out_file = out_dir / _out_name(sample, score)
        side = max(sample["img"].shape[:2])  # small images get smaller tags and thinner boxes
        imshow_gt_det_bboxes(sample["img"], sample, results[index], dataset.CLASSES, score_thr=score_thr,
                             font_scale=min(0.5, max(0.3, side / 800)), thickness=1 if side < 200 else 2,
                             gt_bbox_color=palette, gt_text_color=(200, 200, 200), gt_mask_color=palette,
                             det_bbox_color=palette, det_text_color=(200, 200, 200), det_mask_color=palette,
                             show=show, wait_time=wait_time, out_file=out_file, overlay_gt_pred=overlay_gt_pred)
        written.append(str(out_file))
    return written


def run_analyze_results(config: str, results_file: str, out_dir: str, topk: int = 20, show_score_thr: float = 0.0,
                        show: bool = False, wait_time: float = 0.0, overlay_gt_pred: bool = False,
                        cfg_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``det analyze-results``: rank the images by mAP, draw the best and worst; returns the summary json."""
    from detcli.atomic_write import dump_json_atomic
    from detcli.evaluation.coco_format import check_results_fit
    from detcli.tools.eval_metric import load_results

    if topk < 1:
        raise ConfigError(f"--topk must be at least 1, got {topk}")
    if show:
        from detcli.visualization import require_display

        require_display("--show")
    dataset = build_test_set(config, cfg_options)
    results = load_results(results_file)
    check_results_fit(dataset, results)
    if results and not isinstance(results[0], (list, tuple)):
        raise DataError(f"{results_file} holds {type(results[0]).__name__} results; analyze-results scores "
                        "detections (per-class box lists or (bbox, segm) pairs)",
                        hint="proposals and panoptic results are not supported")
    ranked = rank_images(dataset, results)
    good, bad = pick_best_and_worst(ranked, topk)
    out = Path(out_dir)
    draw = dict(score_thr=show_score_thr, show=show, wait_time=wait_time, overlay_gt_pred=overlay_gt_pred)
    good_files = draw_images(dataset, results, good, out / "good", **draw)
    bad_files = draw_images(dataset, results, bad, out / "bad", **draw)

    def describe(items: list[tuple[int, float]], files: list[str]) -> list[dict[str, Any]]:
        return [{"index": i, "filename": dataset.data_infos[i]["filename"], "mAP": s,
                 "image": str(Path(f).relative_to(out))} for (i, s), f in zip(items, files)]

    summary = {
        "config": str(config), "results": str(results_file), "topk": len(good),
        "mean_image_mAP": float(np.mean([s for _, s in ranked])) if ranked else 0.0,
        "good": describe(good[::-1], good_files[::-1]),  # best first
        "bad": describe(bad, bad_files),
        "images": [{"index": i, "filename": dataset.data_infos[i]["filename"], "mAP": s}
                   for i, s in sorted(ranked)],
    }
    dump_json_atomic(summary, out / "analyze_results.json")
    print(f"{len(good_files)} best images in {out / 'good'}, {len(bad_files)} worst in {out / 'bad'}; "
          f"mean per-image mAP {summary['mean_image_mAP']:.3f}")
    return summary

