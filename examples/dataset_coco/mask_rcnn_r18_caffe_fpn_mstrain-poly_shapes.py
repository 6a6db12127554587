# Your own data in COCO format (sections 三 and 五.1): the guide's balloon config, pointed at the
# shapes set with its four classes instead of balloon's one. `det make-data shapes` writes the
# COCO json the guide describes (images / annotations with polygon segmentation, bbox, area,
# iscrowd / categories); convert your own annotations to that and only the paths and classes
# below change.
# Run from the repository root:
#   det train examples/dataset_coco/mask_rcnn_r18_caffe_fpn_mstrain-poly_shapes.py
#   det test examples/dataset_coco/mask_rcnn_r18_caffe_fpn_mstrain-poly_shapes.py \
#       work_dirs/mask_rcnn_r18_caffe_fpn_mstrain-poly_shapes/latest.pth --eval bbox segm

# The new config inherits a base config to highlight the necessary modification
_base_ = '../../configs/mask_rcnn/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_coco.py'

# The head's num_classes must match the dataset's classes
model = dict(
    # Shrunk to train from scratch on a CPU (the balloon config fine-tunes the full R-50 from a
    # COCO checkpoint instead: keep the base's model and set load_from, see examples/finetune)
    backbone=dict(depth=18, base_channels=32, frozen_stages=-1, norm_eval=False, init_cfg=None,
                  norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64,
              norm_cfg=dict(type='BN', requires_grad=True)),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(num_classes=4, in_channels=64, fc_out_channels=256),
        mask_roi_extractor=dict(out_channels=64, roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(num_classes=4, num_convs=2, in_channels=64, conv_out_channels=64)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=300), rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)))

# Modify dataset related settings
dataset_type = 'CocoDataset'
classes = ('circle', 'square', 'triangle', 'star')
# The base trains at 640..800 pixels (short side) and tests at 800; the shapes images are 320.
# Pipelines are variables: a child that changes one hands it to data again.
img_norm_cfg = dict(mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0], to_rgb=False)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='Resize', img_scale=[(400, 256), (400, 288), (400, 320)], multiscale_mode='value', keep_ratio=True),
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
    samples_per_gpu=4,
    workers_per_gpu=1,
    train=dict(
        img_prefix='data/shapes/train/',
        classes=classes,
        ann_file='data/shapes/annotations/instances_train.json',
        pipeline=train_pipeline),
    val=dict(
        img_prefix='data/shapes/val/',
        classes=classes,
        ann_file='data/shapes/annotations/instances_val.json',
        pipeline=test_pipeline),
    test=dict(
        img_prefix='data/shapes/val/',
        classes=classes,
        ann_file='data/shapes/annotations/instances_val.json',
        pipeline=test_pipeline))

# From scratch on a CPU: the shapes schedule (AdamW, 4 epochs) instead of the base's SGD 1x
optimizer = dict(_delete_=True, type='AdamW', lr=0.001, weight_decay=0.05)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=10, norm_type=2))  # base: grad_clip=None
lr_config = dict(warmup_iters=200, step=[3])
runner = dict(type='EpochBasedRunner', max_epochs=4)
log_config = dict(interval=50)

# The balloon config starts from a COCO-trained model instead:
# load_from = 'checkpoints/mask_rcnn_r50_caffe_fpn_mstrain-poly_3x_coco_bbox_mAP-0.408_segAP-0.37_20200504_163245-42aa3d00.pth'
