# Faster R-CNN with PAFPN, the guide's custom-neck example: an FPN plus a bottom-up path
# (box AP 37.5 in the 2.x model zoo).
_base_ = '../faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'
model = dict(
    neck=dict(
        type='PAFPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5))
