# Cascade R-CNN R-50-FPN with deformable convolutions in C3-C5 (box AP 43.8).
_base_ = '../cascade_rcnn/cascade_rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))  # the 3x3 convs of stages 3-5 (C3-C5) deform
