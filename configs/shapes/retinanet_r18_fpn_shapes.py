# RetinaNet R18-FPN on the generated shapes set, trained from scratch on a CPU: the one-stage
# counterpart of faster_rcnn_r18_fpn_shapes.py (same backbone width, FPN, optimizer and schedule).
_base_ = [
    '../_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/shapes_detection.py',
    '../_base_/schedules/schedule_shapes_4e.py',
    '../_base_/default_runtime.py',
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(depth=18, base_channels=32, frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64, norm_cfg=norm_cfg),
    bbox_head=dict(num_classes=4, in_channels=64, feat_channels=64, stacked_convs=2),
    test_cfg=dict(nms_pre=500))

data = dict(samples_per_gpu=4, workers_per_gpu=1)
log_config = dict(interval=50)  # six log lines in a 300-iteration epoch
