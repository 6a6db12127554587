# RepeatDataset (section 五.5.1): one epoch goes over the training set `times` times, so a small
# dataset makes fewer, longer epochs (fewer evaluations and checkpoints, no loader restarts).
# Run from the repository root:
#   det train examples/dataset_wrappers/faster_rcnn_repeat_dataset_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

data = dict(
    train=dict(
        _delete_=True,  # the base's train keys now belong one level down, in `dataset`
        type='RepeatDataset',
        times=2,
        dataset=dict(  # this is the original config of the dataset
            type='CocoDataset',
            classes=('circle', 'square', 'triangle', 'star'),
            ann_file='data/shapes/annotations/instances_train.json',
            img_prefix='data/shapes/train/',
            # a base's variable, referenced instead of written out again
            pipeline={{ _base_.train_pipeline }})))
# two passes over the data per epoch: 2 epochs see the images as often as the base's 4; the LR
# drops for the second epoch (the last two passes instead of the last one)
runner = dict(max_epochs=2)
lr_config = dict(step=[1])
