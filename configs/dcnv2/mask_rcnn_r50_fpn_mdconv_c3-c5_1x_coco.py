# Mask R-CNN R-50-FPN with DCNv2 in C3-C5 (box AP 41.5, mask AP 37.1).
_base_ = '../mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))  # the 3x3 convs of stages 3-5 (C3-C5) deform
