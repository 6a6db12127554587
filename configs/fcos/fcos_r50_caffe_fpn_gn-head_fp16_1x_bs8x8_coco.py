# FCOS R-50 in mixed precision, 8 GPUs x 8 images.
_base_ = ['./fcos_r50_caffe_fpn_gn-head_1x_coco.py']

data = dict(samples_per_gpu=8, workers_per_gpu=8)

optimizer = dict(lr=0.04)
fp16 = dict(loss_scale='dynamic')

lr_config = dict(warmup='linear', warmup_iters=1000, warmup_ratio=1.0 / 10)
