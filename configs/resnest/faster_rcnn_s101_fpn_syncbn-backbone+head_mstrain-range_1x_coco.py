# Faster R-CNN with ResNeSt-101 (box AP 44.5 in the 2.x model zoo).
_base_ = './faster_rcnn_s50_fpn_syncbn-backbone+head_mstrain-range_1x_coco.py'
model = dict(
    backbone=dict(
        stem_channels=128,
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnest101')))
