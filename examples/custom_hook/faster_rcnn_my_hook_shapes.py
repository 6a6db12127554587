# MyHook (my_hook.py) in a training run, with a priority, and the runtime hooks every config
# sets (section 九.4.3: checkpoint_config, log_config, evaluation).
# Run from the repository root:
#   PYTHONPATH=examples/custom_hook det train examples/custom_hook/faster_rcnn_my_hook_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_hook'], allow_failed_imports=False)

# A list replaces the base's list (NumClassCheckHook is listed again). priority: 'HIGHEST'
# (first at every stage) ... 'NORMAL' (the default) ... 'LOWEST', or a number 0..100.
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='MyHook', filename='my_hook.json', interval=10, priority='HIGHEST'),
]

# CheckpointHook: keep only the two newest epoch_N.pth, without the optimizer state
checkpoint_config = dict(interval=1, max_keep_ckpts=2, save_optimizer=False)
# the logger hooks; add dict(type='TensorboardLoggerHook') with tensorboard installed
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])
# EvalHook: its other keys (metric...) go to dataset.evaluate()
evaluation = dict(interval=1, metric='bbox')
