# Cascade Mask R-CNN R-50-FPN, 20 epochs.
_base_ = [
    '../_base_/models/cascade_mask_rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/schedule_20e.py',
    '../_base_/default_runtime.py',
]
