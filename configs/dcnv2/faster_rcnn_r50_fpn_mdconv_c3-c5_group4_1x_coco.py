# DCNv2 in C3-C5 with four deformable groups (each a quarter of the channels has its own offsets; box AP 41.5).
_base_ = '../faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        dcn=dict(type='DCNv2', deform_groups=4, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))  # the 3x3 convs of stages 3-5 (C3-C5) deform
