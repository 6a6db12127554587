# MyDataset (my_dataset.py, the "online" way of section 五.2) as the train, val and test sets.
# Run from the repository root (the first two commands write the text annotations):
#   python examples/dataset_middle_format/coco_to_txt.py data/shapes/annotations/instances_train.json data/shapes/train.txt
#   python examples/dataset_middle_format/coco_to_txt.py data/shapes/annotations/instances_val.json data/shapes/val.txt
#   PYTHONPATH=examples/dataset_middle_format det train examples/dataset_middle_format/faster_rcnn_my_dataset_shapes.py
_base_ = '../../configs/shapes/faster_rcnn_r18_fpn_shapes.py'

custom_imports = dict(imports=['my_dataset'], allow_failed_imports=False)

# The guide's dataset_A_train = dict(type='MyDataset', ann_file='image_list.txt', pipeline=train_pipeline);
# the base's data.train already holds the pipeline (and classes, here MyDataset's own CLASSES).
data = dict(
    train=dict(type='MyDataset', ann_file='data/shapes/train.txt', img_prefix='data/shapes/train/'),
    val=dict(type='MyDataset', ann_file='data/shapes/val.txt', img_prefix='data/shapes/val/'),
    test=dict(type='MyDataset', ann_file='data/shapes/val.txt', img_prefix='data/shapes/val/'))
# Middle-format datasets evaluate VOC-style: mAP at IoU 0.5 (COCO metrics need CocoDataset)
evaluation = dict(metric='mAP')
