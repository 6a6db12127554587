# SSD512 in mixed precision.
_base_ = ['./ssd512_coco.py']

fp16 = dict(loss_scale='dynamic')

lr_config = dict(warmup='linear', warmup_iters=1000, warmup_ratio=1.0 / 10)
