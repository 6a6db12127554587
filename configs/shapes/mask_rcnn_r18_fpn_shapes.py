# Mask R-CNN R18-FPN on the generated shapes set, trained from scratch on a CPU: the model of
# `make demo` (about 10 minutes of training on 2 cores; measured numbers in README.md here).
#
# Choices for a from-scratch CPU run (the measurements behind them are in README.md):
# - ResNet-18 at half width (32 base channels) and a 64-channel FPN/heads: a quarter of the
#   stock widths' FLOPs;
# - BatchNorm everywhere it fits (backbone, FPN, mask head), statistics updated: from scratch,
#   normalised layers learn much faster;
# - AdamW instead of SGD: from scratch it learns several times faster early on;
# - RoIAlign with 2 samples per bin (the adaptive default costs more on large RoIs) and 64 RoIs
#   per image (the images hold 1-6 objects).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn.py',
    '../_base_/datasets/shapes_instance.py',
    '../_base_/schedules/schedule_shapes_4e.py',
    '../_base_/default_runtime.py',
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,
        frozen_stages=-1,  # from scratch: every stage learns
        norm_cfg=norm_cfg,
        norm_eval=False,  # and so do the BatchNorm statistics
        init_cfg=None),  # no pretrained weights offline
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64, norm_cfg=norm_cfg, num_outs=5),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2), out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=4),
        mask_roi_extractor=dict(roi_layer=dict(sampling_ratio=2), out_channels=64),
        mask_head=dict(num_convs=2, in_channels=64, conv_out_channels=64, norm_cfg=norm_cfg, num_classes=4)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)))

# `make demo` generates 1200 training images (det make-data shapes data/shapes --num-train 1200):
# an epoch is then 300 iterations, and the per-epoch evaluation stays a small part of the run.
data = dict(samples_per_gpu=4, workers_per_gpu=1)
log_config = dict(interval=50)  # six log lines in a 300-iteration epoch
