"""Check an installation (section 一.2, the guide's demo/demo.py): build a detector from a config,
without weights, and run it on one image. Random weights find nothing useful; what matters is
that it runs.

    python examples/inference/verify_install.py [--config ...] [--img ...] [--device cpu]
"""

import argparse

from detcli.apis import inference_detector, init_detector


def main(argv=None):
    parser = argparse.ArgumentParser(description='Run a detector without weights on one image.')
    parser.add_argument('--config', default='configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py')
    parser.add_argument('--img', default='data/shapes/val/000000.png', help='any image (the guide: demo/demo.jpg)')
    parser.add_argument('--device', default='cpu', help="'cuda:0' in the guide")
    args = parser.parse_args(argv)

    config_file = args.config
    device = args.device
    # init a detector
    model = init_detector(config_file, device=device)
    # inference the demo image
    result = inference_detector(model, args.img)

    boxes = result[0] if isinstance(result, tuple) else result  # (boxes, masks) for Mask R-CNN
    print(f'detcli works: {type(model).__name__} returned {len(boxes)} per-class box arrays '
          f'({sum(len(b) for b in boxes)} boxes) for {args.img}')


if __name__ == '__main__':
    main()
