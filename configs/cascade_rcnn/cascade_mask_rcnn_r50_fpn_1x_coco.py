# Cascade Mask R-CNN R-50-FPN on COCO, 12 epochs (box AP 41.2, mask AP 35.9 in the 2.x model zoo).
_base_ = [
    '../_base_/models/cascade_mask_rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
