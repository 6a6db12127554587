# Cascade R-CNN with Res2Net-101, 20 epochs (box AP 45.7).
_base_ = '../cascade_rcnn/cascade_rcnn_r50_fpn_20e_coco.py'
model = dict(
    backbone=dict(
        type='Res2Net',  # ResNet-D layout, each 3x3 conv split into 4 scales of 26 channels
        depth=101,
        scales=4,
        base_width=26,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://res2net101_v1d_26w_4s')))
