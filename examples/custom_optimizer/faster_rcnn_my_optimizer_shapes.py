# Faster R-CNN trained with MyOptimizer (my_optimizer.py): its own arguments a, b, c, no lr.
# Run from the repository root:
#   PYTHONPATH=examples/custom_optimizer det train examples/custom_optimizer/faster_rcnn_my_optimizer_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_optimizer'], allow_failed_imports=False)

# The base has optimizer = dict(type='AdamW', lr=0.001, weight_decay=0.05): _delete_ drops its keys
# (lr among them) so that only MyOptimizer's own arguments remain.
# Lion's step size is usually 3-10x smaller than AdamW's, its weight decay 3-10x larger.
optimizer = dict(_delete_=True, type='MyOptimizer', a=0.0002, b=0.9, c=0.99, weight_decay=0.2)
