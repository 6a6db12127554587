# Faster R-CNN R18-FPN on the generated shapes set, trained from scratch on a CPU.
# The twin of mask_rcnn_r18_fpn_shapes.py without the mask branch (a ResNet-18 at half width,
# 32 base channels), with its box head initialised as torch.nn.Linear is;
# benchmarks/vs_torchvision.py pits it against torchvision's FasterRCNN built the same way.
_base_ = [
    '../_base_/models/faster_rcnn_r50_fpn.py',
    '../_base_/datasets/shapes_detection.py',
    '../_base_/schedules/schedule_shapes_4e.py',
    '../_base_/default_runtime.py',
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,  # half width: a quarter of the FLOPs, fast enough for a CPU
        frozen_stages=-1,  # from scratch: every stage learns
        norm_cfg=norm_cfg,
        norm_eval=False,  # and so do the BatchNorm statistics
        init_cfg=None),  # no pretrained weights offline
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64, norm_cfg=norm_cfg, num_outs=5),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2), out_channels=64),
        bbox_head=dict(
            in_channels=64, fc_out_channels=256, num_classes=4,
            # every Linear of the box head starts as torch.nn.Linear does (Kaiming-uniform, a=sqrt(5))
            # instead of 2.x's Xavier fcs and N(0, 0.01)/N(0, 0.001) predictors: from scratch and in
            # 1200 iterations that is +0.03 bbox mAP (seed 1: 0.769 against 0.737; configs/shapes/README.md)
            init_cfg=dict(type='Kaiming', layer='Linear', a=5**0.5, mode='fan_in',
                          nonlinearity='leaky_relu', distribution='uniform'))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)))

data = dict(samples_per_gpu=4, workers_per_gpu=1)
log_config = dict(interval=50)  # six log lines in a 300-iteration epoch
