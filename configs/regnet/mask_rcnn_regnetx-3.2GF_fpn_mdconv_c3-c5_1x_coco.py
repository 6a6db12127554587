# Mask R-CNN RegNetX-3.2GF + FPN with modulated deformable convolutions (DCNv2) in stages 2-4 (c3-c5).
_base_ = 'mask_rcnn_regnetx-3.2GF_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://regnetx_3.2gf')))
