# The guide's train pipeline (section 六.2.3) with MyTransform (my_pipeline.py) in it, on the
# shapes set.
# Run from the repository root:
#   PYTHONPATH=examples/custom_transform det train examples/custom_transform/faster_rcnn_my_transform_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_pipeline'], allow_failed_imports=False)

img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(320, 320), keep_ratio=True),  # (1333, 800) in the guide (COCO)
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='MyTransform'),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
# a pipeline variable changed in a child config must be handed to the dataset again
data = dict(train=dict(pipeline=train_pipeline))
