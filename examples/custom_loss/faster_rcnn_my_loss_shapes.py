# Faster R-CNN whose second-stage box regression is trained with MyLoss (my_loss.py).
# Run from the repository root:
#   PYTHONPATH=examples/custom_loss det train examples/custom_loss/faster_rcnn_my_loss_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_loss'], allow_failed_imports=False)

# MyLoss regresses boxes, so it replaces a loss_bbox; the log keeps the key name (loss_bbox).
model = dict(roi_head=dict(bbox_head=dict(loss_bbox=dict(type='MyLoss', loss_weight=1.0))))
