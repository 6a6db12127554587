# Faster R-CNN RegNetX-3.2GF-FPN on COCO, 24 epochs.
_base_ = './faster_rcnn_regnetx-3.2GF_fpn_1x_coco.py'
lr_config = dict(step=[16, 22])
runner = dict(type='EpochBasedRunner', max_epochs=24)
