# Another torch optimizer by name (section 九.1.1: Adam) and the poly LR schedule (section 九.2).
# Run from the repository root:
#   det train examples/runtime_schedules/faster_rcnn_adam_poly_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

# any torch.optim optimizer, with its own argument names (merged into the base's AdamW: same keys)
optimizer = dict(type='Adam', lr=0.0003, weight_decay=0.0001)
# lr = (base_lr - min_lr) * (1 - iter / max_iters) ** power + min_lr, updated every iteration
lr_config = dict(_delete_=True, policy='poly', power=0.9, min_lr=1e-4, by_epoch=False)
