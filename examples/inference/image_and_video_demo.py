"""The high-level inference API (section 二.1.1): a detector from a config and a checkpoint, one
image shown or saved with its detections, then a video frame by frame.

After `make demo` (which trains the shapes Mask R-CNN and writes a video):
    python examples/inference/image_and_video_demo.py --out-dir outputs/inference_demo
"""

import argparse
import os

from detcli.apis import VideoReader, VideoWriter, inference_detector, init_detector
from detcli.data import imread


def main(argv=None):
    parser = argparse.ArgumentParser(description='Detect objects in an image and a video.')
    parser.add_argument('--config', default='configs/shapes/mask_rcnn_r18_fpn_shapes.py')
    parser.add_argument('--checkpoint', default='work_dirs/mask_rcnn_r18_fpn_shapes/latest.pth')
    parser.add_argument('--img', default='data/shapes/val/000000.png')
    parser.add_argument('--video', default='data/shapes_video.mp4')
    parser.add_argument('--device', default='cpu', help="'cuda:0' in the guide")
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--out-dir', default=None, help='save result.jpg and result.mp4 here')
    parser.add_argument('--show', action='store_true', help='show windows (needs a display)')
    args = parser.parse_args(argv)

    # Specify the path to model config and checkpoint file
    config_file = args.config
    checkpoint_file = args.checkpoint

    # build the model from a config file and a checkpoint file
    model = init_detector(config_file, checkpoint_file, device=args.device)

    # test a single image and show the results
    img = imread(args.img)  # or img = 'test.jpg': a path is read by the test pipeline itself
    result = inference_detector(model, img)
    if args.show:
        # visualize the results in a new window
        model.show_result(img, result, score_thr=args.score_thr, show=True)
    if args.out_dir:
        # or save the visualization results to image files
        model.show_result(img, result, score_thr=args.score_thr, out_file=os.path.join(args.out_dir, 'result.jpg'))

    # test a video and show the results
    video = VideoReader(args.video)
    writer = VideoWriter(os.path.join(args.out_dir, 'result.mp4'), video.fps, video.resolution) \
        if args.out_dir else None
    for frame in video:
        result = inference_detector(model, frame)
        if args.show:
            model.show_result(frame, result, score_thr=args.score_thr, show=True, wait_time=1)
        if writer is not None:
            writer.write(model.show_result(frame, result, score_thr=args.score_thr))
    if writer is not None:
        writer.close()
        print(f'wrote {args.out_dir}/result.jpg and {args.out_dir}/result.mp4 ({writer.frames} frames)')


if __name__ == '__main__':
    main()
