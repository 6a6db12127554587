# Mask R-CNN R-50-FPN on COCO, 12 epochs (box AP 38.2, mask AP 34.7 in the mmdetection 2.x model zoo).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
