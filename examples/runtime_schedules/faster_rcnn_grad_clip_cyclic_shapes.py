# Gradient clipping and a momentum schedule (section 九.1.4), on the shapes set: one cycle of the
# learning rate (up to 10x, then down to 1e-4x) with the momentum moving the opposite way, as the
# guide's 3D-detection config does.
# Run from the repository root:
#   det train examples/runtime_schedules/faster_rcnn_grad_clip_cyclic_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

# AdamW's "momentum" is betas[0]: the momentum schedule moves it between 0.85 and 0.95
optimizer = dict(type='AdamW', lr=0.0001, betas=(0.95, 0.99), weight_decay=0.05)
# _delete_: replace the base's optimizer_config instead of merging into it
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(
    _delete_=True,  # the base's step policy keys (warmup, step) mean nothing to 'cyclic'
    policy='cyclic',
    target_ratio=(10, 1e-4),
    cyclic_times=1,
    step_ratio_up=0.4,
)
momentum_config = dict(
    policy='cyclic',
    target_ratio=(0.85 / 0.95, 1),
    cyclic_times=1,
    step_ratio_up=0.4,
)
