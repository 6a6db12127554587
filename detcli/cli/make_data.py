"""``det make-data shapes OUT`` (the generated shapes instance-segmentation set),
``det make-data video OUT.mp4`` (a short video of moving shapes) and ``det make-data
cityscapes OUT`` (a small tree in the Cityscapes layout, for ``det convert cityscapes``)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from detcli.cli.app import app

make_data_app = typer.Typer(help="Generate demo datasets.", no_args_is_help=True)
app.add_typer(make_data_app, name="make-data")


@make_data_app.command("shapes")
def shapes(
    out: Path = typer.Argument(..., help="Output directory (e.g. data/shapes)."),
    num_train: int = typer.Option(400, "--num-train", min=0, help="Training images."),
    num_val: int = typer.Option(100, "--num-val", min=0, help="Validation images."),
    size: int = typer.Option(320, "--size", min=32, help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same files)."),
    voc: bool = typer.Option(False, "--voc", help="Also write VOC XML (OUT/VOC2007)."),
    middle: bool = typer.Option(False, "--middle", help="Also write the middle format (annotations/middle_*.pkl/json)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes to draw with (0: up to 4, by CPU count)."),
    min_objects: int = typer.Option(1, "--min-objects", min=1, help="Fewest objects per image."),
    max_objects: int = typer.Option(6, "--max-objects", min=1, help="Most objects per image."),
    min_scale: float = typer.Option(0.08, "--min-scale", help="Smallest object extent, as a fraction of the side."),
    max_scale: float = typer.Option(0.40, "--max-scale", help="Largest object extent, as a fraction of the side."),
) -> None:
    """Circles, squares, triangles and stars on textured backgrounds: images, COCO json, polygon masks."""
    from detcli.apis.progress import progress_bar
    from detcli.data.synthetic import SceneSpec, generate_shapes
    from detcli.errors import ConfigError

    try:  # check the difficulty settings before any file is written
        SceneSpec(min_objects, max_objects, (min_scale, max_scale))
    except ValueError as err:
        raise ConfigError(f"make-data shapes: {err}") from None
    procs = workers or max(1, min(4, os.cpu_count() or 1))
    with progress_bar(num_train + num_val, "shapes") as bar:
        summary = generate_shapes(out, num_train, num_val, size, seed, voc=voc, middle=middle, workers=procs,
                                  progress=bar.advance, min_objects=min_objects, max_objects=max_objects,
                                  scale_range=(min_scale, max_scale))
    parts = ", ".join(f"{split}: {s['images']} images / {s['instances']} objects" for split, s in summary.items())
    typer.echo(f"wrote {out} ({parts})")


@make_data_app.command("video")
def video(
    out: Path = typer.Argument(..., help="Output video file (e.g. data/shapes_video.mp4)."),
    frames: int = typer.Option(48, "--frames", min=1, help="Number of frames."),
    fps: float = typer.Option(8.0, "--fps", min=1.0, help="Frames per second."),
    size: int = typer.Option(320, "--size", min=32, help="Frame side in pixels."),
    objects: int = typer.Option(4, "--objects", min=1, help="Moving shapes in the video."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same frames)."),
) -> None:
    """Circles, squares, triangles and stars drifting over a textured background (mp4)."""
    from detcli.data.synthetic import generate_shapes_video
    from detcli.errors import DataError

    try:
        info = generate_shapes_video(out, num_frames=frames, size=size, fps=fps, seed=seed, num_objects=objects)
    except ValueError as err:
        raise DataError(f"make-data video: {err}", hint="write an .mp4 file") from None
    typer.echo(f"wrote {info['path']} ({info['frames']} frames, {info['size']}x{info['size']}, {info['fps']:g} fps)")


@make_data_app.command("cityscapes")
def cityscapes(
    out: Path = typer.Argument(..., help="Output directory (e.g. data/cityscapes)."),
    num_train: int = typer.Option(6, "--num-train", min=0, help="Training images."),
    num_val: int = typer.Option(3, "--num-val", min=0, help="Validation images."),
    num_test: int = typer.Option(2, "--num-test", min=0, help="Test images (without objects, as the real test split)."),
    width: int = typer.Option(256, "--width", min=64, help="Image width in pixels."),
    height: int = typer.Option(128, "--height", min=32, help="Image height in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same files)."),
) -> None:
    """leftImg8bit/ images and gtFine/ polygons json, instanceIds and labelIds pngs of the 8 instance classes."""
    from detcli.data.synthetic import generate_cityscapes

    summary = generate_cityscapes(out, num_train, num_val, num_test, width=width, height=height, seed=seed)
    parts = ", ".join(f"{split}: {s['images']} images / {s['objects']} objects" for split, s in summary.items())
    typer.echo(f"wrote {out} ({parts})")
