# Faster R-CNN whose optimizer is built by MyOptimizerConstructor (my_optimizer_constructor.py):
# no weight decay on normalisation layers and biases.
# Run from the repository root:
#   PYTHONPATH=examples/custom_optimizer det train examples/custom_optimizer/faster_rcnn_my_constructor_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_optimizer_constructor'], allow_failed_imports=False)

# 'constructor' names the builder; the other keys are its optimizer_cfg (AdamW, lr 0.001 and
# weight decay 0.05 from the base).
optimizer = dict(constructor='MyOptimizerConstructor')
