# Faster R-CNN R-101-FPN, 12 epochs (box AP 39.4 in the mmdetection 2.x model zoo).
_base_ = './faster_rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
