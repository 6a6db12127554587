# FCOS R-101 (caffe style), 12 epochs.
_base_ = './fcos_r50_caffe_fpn_gn-head_1x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron/resnet101_caffe')))
