# Cosine annealing with a linear warmup (section 九.2) and a workflow that also runs the model
# over the validation set after each training epoch, logging its losses (section 九.3).
# Run from the repository root:
#   det train examples/runtime_schedules/faster_rcnn_cosine_train_val_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

lr_config = dict(
    _delete_=True,
    policy='CosineAnnealing',
    warmup='linear',
    warmup_iters=200,  # 1000 in the guide: the shapes runs are short
    warmup_ratio=1.0 / 10,
    min_lr_ratio=1e-5)
# train one epoch, then compute the losses on data.val (no weights change there); the bbox mAP
# evaluation (evaluation = dict(...)) runs after each training epoch either way
workflow = [('train', 1), ('val', 1)]
