# ConcatDataset (section 五.5.3), the three ways, with datasets of two types: the shapes set as
# COCO json (CocoDataset) and as the middle format (CustomDataset, `det make-data shapes --middle`).
# Run from the repository root:
#   det make-data shapes data/shapes --num-train 1200 --middle
#   det train examples/dataset_wrappers/faster_rcnn_concat_datasets_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

classes = ('circle', 'square', 'triangle', 'star')
train_pipeline = {{ _base_.train_pipeline }}
test_pipeline = {{ _base_.test_pipeline }}

# Two datasets of different types, each repeated its own number of times (N = 2, M = 1)
dataset_A_train = dict(
    type='RepeatDataset',
    times=2,
    dataset=dict(
        type='CocoDataset',
        classes=classes,
        ann_file='data/shapes/annotations/instances_train.json',
        img_prefix='data/shapes/train/',
        pipeline=train_pipeline))
dataset_B_train = dict(
    type='RepeatDataset',
    times=1,
    dataset=dict(
        type='CustomDataset',
        classes=classes,
        ann_file='data/shapes/annotations/middle_train.pkl',
        img_prefix='data/shapes/train/',
        pipeline=train_pipeline))
# The same type: one dataset config with a list of annotation files (5.3.1);
# separate_eval=False scores them as one set instead of one score per file
dataset_A_val = dict(
    type='CustomDataset',
    classes=classes,
    ann_file=['data/shapes/annotations/middle_val.pkl', 'data/shapes/annotations/middle_val.json'],
    img_prefix='data/shapes/val/',
    separate_eval=False,
    pipeline=test_pipeline)
dataset_A_test = dict(
    type='CustomDataset',
    classes=classes,
    ann_file='data/shapes/annotations/middle_val.pkl',
    img_prefix='data/shapes/val/',
    pipeline=test_pipeline)
dataset_B_test = dict(dataset_A_test, ann_file='data/shapes/annotations/middle_val.json')

data = dict(
    _delete_=True,  # a new data dict, not merged into the base's
    imgs_per_gpu=4,  # the 2.0 name of samples_per_gpu, still understood
    workers_per_gpu=1,
    train=[dataset_A_train, dataset_B_train],  # a list: concatenated (5.3.2)
    val=dataset_A_val,
    # explicit ConcatDataset (5.3.3). Evaluating it as a whole needs datasets of one type that are
    # scored on their annotations in memory (CustomDataset, VOC...; not COCO)
    test=dict(type='ConcatDataset', datasets=[dataset_A_test, dataset_B_test], separate_eval=False))
# middle-format sets evaluate VOC-style (mAP at IoU 0.5)
evaluation = dict(metric='mAP')
