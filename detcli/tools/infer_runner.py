"""What ``det infer`` does: detect objects in an image, a folder, a glob or a video.

Images: drawings and one JSON file of detections per image go to ``--out-dir``;
without it, one JSON line per image is printed (pipe-friendly). Videos: an annotated
video goes to ``--out-dir`` (or frames are shown with ``--show``), with frames per second.
"""

from __future__ import annotations

import asyncio
import glob
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from detcli.atomic_write import dump_json_atomic
from detcli.errors import ConfigError, DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


@dataclass
class InferOptions:
    input: str
    config: str
    checkpoint: str
    device: str = "cuda:0"
    score_thr: float = 0.3
    out_dir: str | None = None
    out_file: str | None = None
    show: bool = False
    palette: str = "coco"
    async_test: bool = False
    batch_size: int = 1
    wait_time: float = 1.0
    out: str | None = None  # mmdetection's video_demo.py spelling of out_file (videos only)
    cfg_options: dict[str, Any] = field(default_factory=dict)


def resolve_inputs(spec: str) -> tuple[str, list[Path]]:
    """('video', [file]) or ('images', [files...]) for a file, a folder or a glob pattern."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"no images in folder {path}", hint=f"images end in {', '.join(sorted(IMAGE_SUFFIXES))}")
        return "images", files
    if path.is_file():
        return ("video" if path.suffix.lower() in VIDEO_SUFFIXES else "images"), [path]
    if any(c in spec for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True)
                       if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"no images match {spec!r}", hint="quote the pattern so the shell does not expand it")
        return "images", files
    raise DataError(f"input not found: {spec}", hint="give an image, a folder of images, a glob or a video file")


def detections_as_json(result: Any, class_names: Sequence[str] | None, score_thr: float) -> list[dict]:
    """Detections above ``score_thr`` as plain dicts (masks as COCO RLE with string counts)."""
    from pycocotools import mask as mask_util

    from detcli.visualization import result_to_arrays

    bboxes, labels, segms = result_to_arrays(result)
    keep = bboxes[:, 4] >= score_thr if len(bboxes) else np.zeros(0, bool)
    out = []
    for i in np.flatnonzero(keep):
        label = int(labels[i])
        det = {"label": label, "class": class_names[label] if class_names and label < len(class_names) else str(label),
               "score": round(float(bboxes[i, 4]), 5), "bbox": [round(float(v), 2) for v in bboxes[i, :4]]}
        if segms is not None:
            rle = mask_util.encode(np.asfortranarray(segms[i].astype(np.uint8)))
            det["mask"] = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode()}
        out.append(det)
    return out


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), max(size, 1)):
        yield items[i:i + max(size, 1)]


class _Drawer:
    def __init__(self, model: Any, opts: InferOptions) -> None:
        from detcli.visualization import draw_detections

        self.model, self.opts, self._draw = model, opts, draw_detections
        self.class_names = getattr(model, "CLASSES", None)

    def __call__(self, img: Any, result: Any, out_file: str | None = None, show: bool = False) -> np.ndarray:
        o = self.opts
        return self._draw(img, result, self.class_names, score_thr=o.score_thr, bbox_color=o.palette,
                          text_color=(200, 200, 200), mask_color=o.palette, show=show, wait_time=o.wait_time,
                          out_file=out_file)


def infer_images(model: Any, files: list[Path], opts: InferOptions, print_fn: Any = print) -> int:
    from detcli.apis import async_inference_detector, inference_detector
    from detcli.apis.progress import progress_bar
    from detcli.data import imread

    draw = _Drawer(model, opts)
    out_dir = Path(opts.out_dir) if opts.out_dir else None
    with progress_bar(len(files), "infer", enabled=out_dir is not None or opts.out_file is not None) as bar:
        for chunk in _batches(files, opts.batch_size):
            images = [imread(f) for f in chunk]
            if opts.async_test:
                results = [asyncio.run(async_inference_detector(model, img)) for img in images]
            else:
                results = inference_detector(model, images)
            for path, img, result in zip(chunk, images, results):
                dets = detections_as_json(result, draw.class_names, opts.score_thr)
                record = {"image": str(path), "height": int(img.shape[0]), "width": int(img.shape[1]),
                          "detections": dets}
                if out_dir is not None:
                    draw(img, result, out_file=str(out_dir / path.name))
                    dump_json_atomic(record, out_dir / f"{path.stem}.json")
                if opts.out_file is not None and len(files) == 1:
                    draw(img, result, out_file=opts.out_file)
                if opts.show:
                    draw(img, result, show=True)
                if out_dir is None and opts.out_file is None:
                    print_fn(json.dumps(record))
            bar.advance(len(chunk))
    return len(files)


def infer_video(model: Any, video: Path, opts: InferOptions) -> tuple[int, float]:
    """Annotate every frame; returns (frames, frames per second)."""
    from detcli.apis import VideoReader, VideoWriter, inference_detector
    from detcli.apis.progress import progress_bar

    reader = VideoReader(video)
    target = Path(opts.out_file) if opts.out_file else (Path(opts.out_dir) / f"{video.stem}.mp4" if opts.out_dir
                                                          else None)
    draw = _Drawer(model, opts)
    writer = VideoWriter(target, reader.fps, reader.resolution) if target is not None else None
    frames = 0
    try:
        with progress_bar(len(reader), "infer", unit="frame") as bar:
            for frame in reader:
                result = inference_detector(model, frame)
                drawn = draw(frame, result, show=opts.show)
                if writer is not None:
                    writer.write(drawn)
                frames += 1
                bar.advance(1)
            fps = bar.rate
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    finally:
        reader.close()
    if writer is not None:
        writer.close()
    return frames, fps


def run_infer(opts: InferOptions, print_fn: Any = print) -> dict[str, Any]:
    """Run ``det infer``; returns a summary (kind, count, fps, outputs folder)."""
    from detcli.apis import init_detector

    kind, files = resolve_inputs(opts.input)
    if opts.out is not None:
        if kind != "video":
            raise ConfigError(f"--out names the annotated video of a video input; {opts.input} is not a video",
                              hint="for images use --out-file (one image) or --out-dir")
        if opts.out_file is not None:
            raise ConfigError("--out and --out-file are the same option; give one",
                              hint="--out is mmdetection's video_demo.py spelling of --out-file")
        opts = replace(opts, out_file=opts.out, out=None)
    if kind == "video" and not (opts.out_dir or opts.out_file or opts.show):
        raise ConfigError("a video needs somewhere to go: --out-file/--out FILE.mp4, --out-dir DIR or --show",
                          hint=f"e.g. det infer {opts.input} CONFIG CHECKPOINT --out-dir out/")
    if opts.out_file and kind == "images" and len(files) > 1:
        raise ConfigError("--out-file takes one image; for several use --out-dir")
    if opts.show:
        from detcli.visualization import require_display

        require_display("--show")
    model = init_detector(opts.config, opts.checkpoint, device=opts.device, cfg_options=opts.cfg_options or None)
    if opts.out_dir:
        Path(opts.out_dir).mkdir(parents=True, exist_ok=True)
    if kind == "video":
        frames, fps = infer_video(model, files[0], opts)
        print(f"{frames} frames at {fps:.1f} FPS")
        return {"kind": kind, "count": frames, "fps": fps}
    count = infer_images(model, files, opts, print_fn)
    return {"kind": kind, "count": count}


def default_device() -> str:
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def _open_camera_quietly(camera_id: int) -> Any:
    """Open a camera without OpenCV's multi-line backend warnings when there is none."""
    import cv2

    log = getattr(getattr(cv2, "utils", None), "logging", None)
    previous = log.getLogLevel() if log is not None else None
    if log is not None:
        log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(camera_id)
    finally:
        if log is not None:
            log.setLogLevel(previous)


def webcam_loop(config: str, checkpoint: str, device: str, camera_id: int = 0, score_thr: float = 0.5) -> int:
    """Live detection on a camera until Esc/q; returns the number of frames shown."""

    from detcli.apis import inference_detector, init_detector
    from detcli.visualization import draw_detections, require_display, show_image

    require_display("the webcam")
    camera = _open_camera_quietly(int(camera_id))
    try:
        if not camera.isOpened():
            raise DataError(f"cannot open camera {camera_id}", hint="check --camera-id and that a camera is connected")
        model = init_detector(config, checkpoint, device=device)
        frames = 0
        while True:
            ok, frame = camera.read()
            if not ok:
                raise DataError(f"camera {camera_id} stopped delivering frames")
            result = inference_detector(model, frame)
            drawn = draw_detections(frame, result, getattr(model, "CLASSES", None), score_thr=score_thr)
            frames += 1
            key = show_image(drawn, "det webcam", wait_time=0.001)
            if key in (27, ord("q"), ord("Q")):
                return frames
    finally:
        camera.release()
