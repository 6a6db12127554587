# Faster R-CNN with the MobileNet of my_mobilenet.py as its backbone, on the shapes set.
# Run from the repository root:
#   PYTHONPATH=examples/custom_backbone det train examples/custom_backbone/faster_rcnn_mobilenet_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

# Import the module that registers MobileNet (it must be on PYTHONPATH).
custom_imports = dict(imports=['my_mobilenet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,  # drop the ResNet's keys (depth, num_stages...): they mean nothing to MobileNet
        type='MobileNet',
        widen_factor=0.25,  # stage widths 32, 64, 128, 256 at strides 4..32, as the R18 of the base
        out_indices=(1, 2, 3, 4),
        norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[32, 64, 128, 256]))
