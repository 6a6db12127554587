# Faster R-CNN with HRNetV2p-W32, 24 epochs (box AP 41.4).
_base_ = './faster_rcnn_hrnetv2p_w32_1x_coco.py'
lr_config = dict(step=[16, 22])
runner = dict(type='EpochBasedRunner', max_epochs=24)
