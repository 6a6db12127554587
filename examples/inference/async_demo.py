"""The asynchronous inference API (section 二.1.2): ``async_inference_detector`` inside an
``asyncio`` program, with ``concurrent`` bounding how many inferences run at once. On a GPU the
queue holds CUDA streams, so the inferences overlap on it; on a CPU any tokens bound the
concurrency (the work runs in worker threads).

After `make demo`:
    python examples/inference/async_demo.py --out-dir outputs/async_demo data/shapes/val/00000?.png
"""

import argparse
import asyncio
import glob
import os

import torch

from detcli.apis import async_inference_detector, concurrent, init_detector


async def main(argv=None):
    parser = argparse.ArgumentParser(description='Detect objects in several images concurrently.')
    parser.add_argument('imgs', nargs='*', default=['data/shapes/val/00000?.png'], help='images or globs')
    parser.add_argument('--config', default='configs/shapes/mask_rcnn_r18_fpn_shapes.py')
    parser.add_argument('--checkpoint', default='work_dirs/mask_rcnn_r18_fpn_shapes/latest.pth')
    parser.add_argument('--device', default='cuda:0' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--concurrency', type=int, default=3)
    parser.add_argument('--out-dir', default='outputs/async_demo')
    args = parser.parse_args(argv)

    config_file = args.config
    checkpoint_file = args.checkpoint
    device = args.device
    model = init_detector(config_file, checkpoint=checkpoint_file, device=device)

    # queue is used for concurrent inference of multiple images
    streamqueue = asyncio.Queue()
    # queue size defines concurrency level
    streamqueue_size = args.concurrency

    for _ in range(streamqueue_size):
        streamqueue.put_nowait(torch.cuda.Stream(device=device) if device.startswith('cuda') else None)

    async def detect(img):
        async with concurrent(streamqueue):
            result = await async_inference_detector(model, img)
        # save the visualization results to image files (model.show_result(img, result) shows a window)
        model.show_result(img, result, out_file=os.path.join(args.out_dir, os.path.basename(img)))
        return result

    imgs = sorted(p for pattern in args.imgs for p in (glob.glob(pattern) or [pattern]))
    results = await asyncio.gather(*(detect(img) for img in imgs))
    print(f'{len(results)} images detected, {streamqueue_size} at a time; drawings in {args.out_dir}')
    return results


if __name__ == '__main__':
    asyncio.run(main())
