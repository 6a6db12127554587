# Fine-tuning a trained model on a new task (section 十, the balloon config's way): start from the
# weights of the shapes Mask R-CNN (`make demo` trains it: 4 classes) and fine-tune it to detect
# two of the classes. The backbone, neck and RPN keep their trained weights; the class-specific
# layers (fc_cls, fc_reg, conv_logits) change shape and start anew.
# Run from the repository root:
#   det train configs/shapes/mask_rcnn_r18_fpn_shapes.py     # or `make demo`: the model to start from
#   det train examples/finetune/mask_rcnn_r18_fpn_finetune_2cls_shapes.py
_base_ = '../../configs/shapes/mask_rcnn_r18_fpn_shapes.py'

# 1. the heads: as in the guide, written out in full; num_classes is what changes
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='Shared2FCBBoxHead',
            in_channels=64,
            fc_out_channels=256,
            roi_feat_size=7,
            num_classes=2,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=2,
            in_channels=64,
            conv_out_channels=64,
            norm_cfg=norm_cfg,
            num_classes=2,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))))

# 2. the data: the new task's classes (section 五.6)
classes = ('triangle', 'star')
data = dict(train=dict(classes=classes), val=dict(classes=classes), test=dict(classes=classes))

# 3. the schedule: shorter, with a smaller learning rate than training from scratch
optimizer = dict(_delete_=True, type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(_delete_=True, grad_clip=None)
lr_config = dict(policy='step', warmup='linear', warmup_iters=100, warmup_ratio=0.001, step=[1])
# the guide writes total_epochs = 8 (2.6's spelling, still understood where no base sets a runner)
runner = dict(max_epochs=2)
log_config = dict(interval=50)

# 4. the weights to start from (a path, or the URL of a model-zoo checkpoint)
load_from = 'work_dirs/mask_rcnn_r18_fpn_shapes/latest.pth'
