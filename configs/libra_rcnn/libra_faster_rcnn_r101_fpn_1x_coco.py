# Libra R-CNN with ResNet-101 (box AP 40.1 in the mmdetection 2.x model zoo).
_base_ = './libra_faster_rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
