# Grid R-CNN R-50-FPN, 12 epochs.
_base_ = ['grid_rcnn_r50_fpn_gn-head_2x_coco.py']
lr_config = dict(
    policy='step',
    warmup='linear',
    warmup_iters=500,
    warmup_ratio=0.001,
    step=[8, 11])
checkpoint_config = dict(interval=1)
runner = dict(type='EpochBasedRunner', max_epochs=12)
