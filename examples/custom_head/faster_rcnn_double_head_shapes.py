# Double Head R-CNN on the shapes set: the guide's config (section 七.3.3) with the heads of
# my_double_bbox_head.py / my_double_roi_head.py, at the widths of the shapes base.
# Run from the repository root:
#   PYTHONPATH=examples/custom_head det train examples/custom_head/faster_rcnn_double_head_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(
    imports=['my_double_roi_head', 'my_double_bbox_head'],
    allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='MyDoubleHeadRoIHead',
        reg_roi_scale_factor=1.3,
        bbox_head=dict(
            _delete_=True,  # Shared2FCBBoxHead's keys (and init_cfg) of the base do not apply
            type='MyDoubleConvFCBBoxHead',
            num_convs=2,  # 4 in the guide (R-50, 1024 channels)
            num_fcs=2,
            in_channels=64,
            conv_out_channels=64,
            fc_out_channels=256,
            roi_feat_size=7,
            num_classes=4,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0),
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=2.0))))
