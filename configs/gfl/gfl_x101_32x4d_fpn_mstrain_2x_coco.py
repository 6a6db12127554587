# GFL ResNeXt-101 32x4d FPN, multi-scale training, 24 epochs.
_base_ = './gfl_r50_fpn_mstrain_2x_coco.py'
model = dict(
    type='GFL',
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnext101_32x4d')))
