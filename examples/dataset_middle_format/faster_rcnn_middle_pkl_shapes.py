# The middle format read as it is (the "offline" way of section 五.2): annotations converted once
# into a pickle (or json) list of dicts that CustomDataset loads with no code of yours.
# Run from the repository root (`--middle` writes data/shapes/annotations/middle_{train,val}.pkl):
#   det make-data shapes data/shapes --num-train 1200 --middle
#   det train examples/dataset_middle_format/faster_rcnn_middle_pkl_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

data = dict(
    train=dict(type='CustomDataset', ann_file='data/shapes/annotations/middle_train.pkl'),
    val=dict(type='CustomDataset', ann_file='data/shapes/annotations/middle_val.pkl'),
    test=dict(type='CustomDataset', ann_file='data/shapes/annotations/middle_val.pkl'))
evaluation = dict(metric='mAP')
