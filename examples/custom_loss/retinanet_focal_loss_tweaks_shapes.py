# Adjusting a built-in loss from the config alone (section 八.2): RetinaNet's FocalLoss with
# other hyper-parameters (8.2.1) and another weight in the total loss (8.2.3).
# Run from the repository root:
#   det train examples/custom_loss/retinanet_focal_loss_tweaks_shapes.py
_base_ = '../../configs/shapes/retinanet_r18_fpn_shapes.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=1.5,  # 2.0 in the base: less focus on the hard examples
            alpha=0.5,  # 0.25 in the base: positives and negatives weighted alike
            loss_weight=0.5)))  # the classification loss counts half in the total
# 8.2.2, reduction='sum', is one more key here; not with RetinaHead though, which divides by the
# number of positive anchors (avg_factor): only 'mean' can be combined with that.
