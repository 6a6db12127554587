# Cascade R-CNN R-50-FPN, 20 epochs (box AP 41.0 in the 2.x model zoo).
_base_ = './cascade_rcnn_r50_fpn_1x_coco.py'
lr_config = dict(step=[16, 19])
runner = dict(type='EpochBasedRunner', max_epochs=20)
