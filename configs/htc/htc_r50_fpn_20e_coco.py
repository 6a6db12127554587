# HTC R-50-FPN with the semantic branch, 20 epochs (box AP 43.3, mask AP 38.3 in the 2.x model zoo).
_base_ = './htc_r50_fpn_1x_coco.py'
lr_config = dict(step=[16, 19])
runner = dict(type='EpochBasedRunner', max_epochs=20)
