"""Evaluation: COCO (pycocotools), VOC-style mAP and recall, Cityscapes; what datasets' ``evaluate`` calls."""

from detcli.evaluation.cityscapes import evaluate_cityscapes, format_cityscapes_results
from detcli.evaluation.class_names import cityscapes_classes, coco_classes, get_classes, voc_classes
from detcli.evaluation.coco_eval import evaluate_coco, fast_eval_recall
from detcli.evaluation.coco_format import encode_mask_results, format_coco_results, results_to_coco_json
from detcli.evaluation.custom import evaluate_custom
from detcli.evaluation.errors import MetricError
from detcli.evaluation.mean_ap import average_precision, eval_map, print_map_summary, tpfp_default
from detcli.evaluation.overlaps import bbox_overlaps
from detcli.evaluation.recall import eval_recalls, print_recall_summary

__all__ = [
    "evaluate_coco", "format_coco_results", "evaluate_custom", "evaluate_cityscapes",
    "format_cityscapes_results", "fast_eval_recall", "encode_mask_results", "results_to_coco_json",
    "eval_map", "average_precision", "tpfp_default", "print_map_summary", "eval_recalls",
    "print_recall_summary", "bbox_overlaps", "get_classes", "coco_classes", "voc_classes",
    "cityscapes_classes", "MetricError",
]
