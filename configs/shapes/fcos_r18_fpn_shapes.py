# FCOS R18-FPN on the generated shapes set, trained from scratch on a CPU: the anchor-free
# counterpart of retinanet_r18_fpn_shapes.py (same backbone width, FPN, head depth, optimizer and
# schedule), with FCOS's later improvements (center sampling, distances in strides, centerness on
# the regression branch, GIoU loss).
_base_ = [
    '../_base_/datasets/shapes_detection.py',
    '../_base_/schedules/schedule_shapes_4e.py',
    '../_base_/default_runtime.py',
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='FCOS',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(
        type='FPN',
        in_channels=[32, 64, 128, 256],
        out_channels=64,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True,
        norm_cfg=norm_cfg),
    bbox_head=dict(
        type='FCOSHead',
        num_classes=4,
        in_channels=64,
        stacked_convs=2,
        feat_channels=64,
        strides=[8, 16, 32, 64, 128],
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        conv_bias=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(nms_pre=500, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6),
                  max_per_img=100))

data = dict(samples_per_gpu=4, workers_per_gpu=1)
log_config = dict(interval=50)
