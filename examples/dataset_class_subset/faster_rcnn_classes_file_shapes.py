# Training on a subset of the classes listed in a text file, one name a line (section 五.6).
# Run from the repository root:
#   det train examples/dataset_class_subset/faster_rcnn_classes_file_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

# A relative path is read from the current directory; {{ fileDirname }} is this config's folder.
classes = '{{ fileDirname }}/classes.txt'
data = dict(
    train=dict(classes=classes),
    val=dict(classes=classes),
    test=dict(classes=classes))
model = dict(roi_head=dict(bbox_head=dict(num_classes=2)))
