# Changing a variable of a base config (section 四.4.1): multi-scale training for the shapes
# Mask R-CNN. train_pipeline / test_pipeline are variables of the base; a child that redefines
# them must pass them to data again, or the datasets keep the base's pipelines.
# See the merged result, then train:
#   det print-config examples/config_inheritance/mask_rcnn_r18_fpn_mstrain_shapes.py
#   det train examples/config_inheritance/mask_rcnn_r18_fpn_mstrain_shapes.py
_base_ = '../../configs/shapes/mask_rcnn_r18_fpn_shapes.py'
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='Resize',
        # (1333, 640) ... (1333, 800) in the guide (COCO): one scale drawn per image
        img_scale=[(400, 256), (400, 288), (400, 320), (400, 352), (400, 384)],
        multiscale_mode="value",
        keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(400, 320),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='Pad', size_divisor=32),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
