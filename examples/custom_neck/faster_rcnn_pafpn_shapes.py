# Faster R-CNN with the PAFPN neck of my_pafpn.py instead of FPN, on the shapes set.
# Run from the repository root:
#   PYTHONPATH=examples/custom_neck det train examples/custom_neck/faster_rcnn_pafpn_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_pafpn'], allow_failed_imports=False)

# The base's FPN keys (in_channels, out_channels, num_outs, norm_cfg) mean the same to MyPAFPN,
# so only the type changes; the guide's R-50 version is
#   neck=dict(type='PAFPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)
model = dict(
    neck=dict(
        type='MyPAFPN',
        in_channels=[32, 64, 128, 256],  # the half-width ResNet-18 of the base
        out_channels=64,
        num_outs=5))
