"""Write the guide's text annotation format (see my_dataset.py) from a COCO json, so that the
MyDataset example has files to read: in your project, the text files are what you already have.

    python examples/dataset_middle_format/coco_to_txt.py data/shapes/annotations/instances_train.json data/shapes/train.txt
"""

import argparse
import json
import os
from collections import defaultdict


def coco_to_txt(coco_file, out_file):
    """One block per image; labels index the categories in the json's order (from 0)."""
    with open(coco_file) as f:
        coco = json.load(f)
    label_of = {cat['id']: i for i, cat in enumerate(coco['categories'])}
    boxes = defaultdict(list)
    for ann in coco['annotations']:
        if not ann.get('iscrowd', 0):
            x, y, w, h = ann['bbox']
            boxes[ann['image_id']].append(f"{x:g} {y:g} {x + w:g} {y + h:g} {label_of[ann['category_id']]}")
    lines = []
    for img in coco['images']:
        lines += ['#', img['file_name'], f"{img['width']} {img['height']}", str(len(boxes[img['id']]))]
        lines += boxes[img['id']]
    tmp = out_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, out_file)
    return len(coco['images'])


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coco_file')
    parser.add_argument('out_file')
    args = parser.parse_args()
    print(f'wrote {args.out_file} ({coco_to_txt(args.coco_file, args.out_file)} images)')
