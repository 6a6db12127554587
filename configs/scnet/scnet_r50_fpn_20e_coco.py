# SCNet R-50-FPN, 20 epochs (box AP 44.5, mask AP 40.0 in the mmdetection 2.x model zoo).
_base_ = './scnet_r50_fpn_1x_coco.py'
lr_config = dict(step=[16, 19])
runner = dict(type='EpochBasedRunner', max_epochs=20)
