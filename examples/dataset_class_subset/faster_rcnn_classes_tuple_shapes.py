# Training on a subset of a dataset's classes (section 五.6), named in the config: annotations of
# the other classes are left out, labels are renumbered 0..n-1 in the order given here.
# Run from the repository root:
#   det train examples/dataset_class_subset/faster_rcnn_classes_tuple_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

classes = ('circle', 'triangle')
data = dict(
    train=dict(classes=classes),
    val=dict(classes=classes),
    test=dict(classes=classes))
# the head predicts as many classes as the dataset has (NumClassCheckHook checks it)
model = dict(roi_head=dict(bbox_head=dict(num_classes=2)))
