# Grid R-CNN R-101-FPN, 25 epochs (box AP 41.5 in the 2.x model zoo).
_base_ = './grid_rcnn_r50_fpn_gn-head_2x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
