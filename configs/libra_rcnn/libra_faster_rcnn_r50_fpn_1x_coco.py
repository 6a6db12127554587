# Libra R-CNN (https://arxiv.org/abs/1904.02701) on Faster R-CNN R-50-FPN: a balanced feature pyramid
# (BFP: all levels averaged at one scale, refined by a non-local block, added back), IoU-balanced
# negative and instance-balanced positive sampling, and the balanced L1 loss (box AP 38.3 in the
# mmdetection 2.x model zoo).
_base_ = '../faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'
model = dict(
    neck=[  # a list of necks runs in order
        dict(
            type='FPN',
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            num_outs=5),
        dict(
            type='BFP',
            in_channels=256,
            num_levels=5,
            refine_level=2,
            refine_type='non_local'),
    ],
    roi_head=dict(
        bbox_head=dict(
            loss_bbox=dict(
                _delete_=True,
                type='BalancedL1Loss',
                alpha=0.5,
                gamma=1.5,
                beta=1.0,
                loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(sampler=dict(neg_pos_ub=5), allowed_border=-1),
        rcnn=dict(
            sampler=dict(
                _delete_=True,
                type='CombinedSampler',
                num=512,
                pos_fraction=0.25,
                add_gt_as_proposals=True,
                pos_sampler=dict(type='InstanceBalancedPosSampler'),
                neg_sampler=dict(
                    type='IoUBalancedNegSampler',
                    floor_thr=-1,  # every negative sampled by IoU bins
                    floor_fraction=0,
                    num_bins=3)))))
