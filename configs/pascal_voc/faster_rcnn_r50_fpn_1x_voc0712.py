# Faster R-CNN R-50-FPN on PASCAL VOC 07+12 trainval, tested on VOC2007 test (mAP).
_base_ = [
    '../_base_/models/faster_rcnn_r50_fpn.py',
    '../_base_/datasets/voc0712.py',
    '../_base_/default_runtime.py',
]
model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
# The dataset is repeated 3 times per epoch: the step at epoch 3 is after 9 passes,
# and 4 epochs are 12 passes over the data.
lr_config = dict(policy='step', step=[3])
runner = dict(type='EpochBasedRunner', max_epochs=4)
