# Replacing a dict instead of merging into it (section 四.4): `_delete_=True` in the backbone
# drops the base's ResNet keys, so a backbone with other keys can take its place. The guide swaps
# in HRNet; here a ResNeXt (grouped convolutions), at the width of the shapes models.
#   det print-config examples/config_inheritance/mask_rcnn_x50_fpn_shapes.py
#   det train examples/config_inheritance/mask_rcnn_x50_fpn_shapes.py
_base_ = '../../configs/shapes/mask_rcnn_r18_fpn_shapes.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNeXt',
        depth=50,
        groups=8,
        base_width=2,
        base_channels=16,  # stage outputs 64, 128, 256, 512 (4x base_channels x 2^stage)
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch'),
    neck=dict(in_channels=[64, 128, 256, 512]))
