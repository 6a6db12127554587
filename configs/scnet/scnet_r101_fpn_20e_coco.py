# SCNet R-101-FPN, 20 epochs (box AP 45.8, mask AP 40.9 in the mmdetection 2.x model zoo).
_base_ = './scnet_r50_fpn_20e_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
