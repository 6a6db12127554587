# Runtime defaults shared by every training config.

# Save a checkpoint after every epoch.
checkpoint_config = dict(interval=1)
# Log every 50 iterations as text (add dict(type='TensorboardLoggerHook') for TensorBoard).
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])
# Fail early when the head's num_classes and the dataset's CLASSES disagree.
custom_hooks = [dict(type='NumClassCheckHook')]

dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None  # weights to start from (fine-tuning)
resume_from = None  # a checkpoint to continue, with its optimizer state and epoch
workflow = [('train', 1)]

# OpenCV's own thread pool fights the data-loader workers: keep it off.
opencv_num_threads = 0
# Data-loader worker processes start fastest with fork.
mp_start_method = 'fork'

# With enable=True the learning rate is scaled by (total batch size / base_batch_size);
# base_batch_size is what the schedules were tuned for: 8 GPUs x 2 images.
auto_scale_lr = dict(enable=False, base_batch_size=16)
