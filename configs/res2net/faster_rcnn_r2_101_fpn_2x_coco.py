# Faster R-CNN with Res2Net-101 (26w x 4s), 24 epochs (box AP 43.0 in the 2.x model zoo).
_base_ = '../faster_rcnn/faster_rcnn_r50_fpn_2x_coco.py'
model = dict(
    backbone=dict(
        type='Res2Net',  # ResNet-D layout, each 3x3 conv split into 4 scales of 26 channels
        depth=101,
        scales=4,
        base_width=26,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://res2net101_v1d_26w_4s')))
