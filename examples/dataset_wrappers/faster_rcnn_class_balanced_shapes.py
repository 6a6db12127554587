# ClassBalancedDataset (section 五.5.2): images of rare classes are repeated. With f(c) the
# fraction of training images holding class c, an image is repeated
# ceil(max over its classes of max(1, sqrt(oversample_thr / f(c)))) times.
# Run from the repository root:
#   det train examples/dataset_wrappers/faster_rcnn_class_balanced_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

data = dict(
    train=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        # 1e-3 in the guide (LVIS, where rare classes are in < 0.1 % of the images); every shapes
        # class is in about half of the images, so a threshold that high repeats some of them
        oversample_thr=0.8,
        dataset=dict(
            type='CocoDataset',
            classes=('circle', 'square', 'triangle', 'star'),
            ann_file='data/shapes/annotations/instances_train.json',
            img_prefix='data/shapes/train/',
            pipeline={{ _base_.train_pipeline }})))
