# The shapes configs' schedule for training from scratch on a CPU: AdamW (several times faster
# than SGD early on from scratch), 4 epochs of the 1200 images `make demo` generates (300
# iterations each at batch 4), the learning rate divided by 10 before the last epoch.
optimizer = dict(type='AdamW', lr=0.001, weight_decay=0.05)
optimizer_config = dict(grad_clip=dict(max_norm=10, norm_type=2))
lr_config = dict(policy='step', warmup='linear', warmup_iters=200, warmup_ratio=0.001, step=[3])
runner = dict(type='EpochBasedRunner', max_epochs=4)
