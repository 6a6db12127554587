# Mask R-CNN R-50-FPN, 24 epochs (box AP 39.2, mask AP 35.4 in the mmdetection 2.x model zoo).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/schedule_2x.py',
    '../_base_/default_runtime.py',
]
