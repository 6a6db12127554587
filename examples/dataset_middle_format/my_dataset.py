"""The guide's new dataset (section 五.3): ``MyDataset`` reads the guide's text annotation format
into the middle format (a list of dicts, one per image, with an ``ann`` of numpy arrays) by
overriding ``load_annotations``; ``get_ann_info`` hands one image's ``ann`` to the pipeline.

The annotation file, one block per image, each block after a line holding only ``#``:

    #
    000001.jpg          <- image file, relative to img_prefix
    1280 720            <- width height
    2                   <- number of boxes
    10 20 40 60 1       <- x1 y1 x2 y2 label (the label indexes CLASSES, from 0)
    20 40 50 60 2

(The guide's version splits each box line into characters instead of numbers; fixed here.)
"""

import numpy as np

from detcli.data import DATASETS, CustomDataset, list_from_file


@DATASETS.register_module()
class MyDataset(CustomDataset):

    CLASSES = ('circle', 'square', 'triangle', 'star')  # the guide's: ('person', 'bicycle', 'car', 'motorcycle')

    def load_annotations(self, ann_file):
        ann_list = list_from_file(ann_file)

        data_infos = []
        for i, ann_line in enumerate(ann_list):
            if ann_line != '#':
                continue

            img_shape = ann_list[i + 2].split(' ')
            width = int(img_shape[0])
            height = int(img_shape[1])
            bbox_number = int(ann_list[i + 3])

            bboxes = []
            labels = []
            for anns in ann_list[i + 4:i + 4 + bbox_number]:
                anns = anns.split(' ')
                bboxes.append([float(ann) for ann in anns[:4]])
                labels.append(int(anns[4]))

            data_infos.append(
                dict(
                    filename=ann_list[i + 1],
                    width=width,
                    height=height,
                    ann=dict(
                        bboxes=np.array(bboxes, dtype=np.float32).reshape(-1, 4),
                        labels=np.array(labels, dtype=np.int64))
                ))

        return data_infos

    def get_ann_info(self, idx):
        return self.data_infos[idx]['ann']
