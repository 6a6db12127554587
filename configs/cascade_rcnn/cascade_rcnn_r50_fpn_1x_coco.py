# Cascade R-CNN R-50-FPN on COCO, 12 epochs (box AP 40.3 in the mmdetection 2.x model zoo).
_base_ = [
    '../_base_/models/cascade_rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
