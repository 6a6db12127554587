"""A short generated video of moving shapes (``det make-data video OUT.mp4``).

The demo runs ``det infer`` on it: the same four classes and the same kind of textured
background as the shapes set, so a detector trained on that set should track them.
Objects drift, bounce off the borders and spin; the background stays fixed. Frames come
from one random stream ``(seed, 2)``: same arguments, same frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detcli.atomic_write import atomic_path
from detcli.data.synthetic.shapes import SHAPE_CLASSES, _fill, _pick_color, background, unit_outline

_VIDEO_STREAM = 2  # shapes train/val use streams 0 and 1


@dataclass
class _Mover:
    """One moving shape: outline at unit size, and where/how big/which way it is going."""

    label: int
    unit: np.ndarray  # (k, 2) outline scaled so that its extent is 1
    extent: float
    centre: np.ndarray
    velocity: np.ndarray  # pixels per frame
    angle: float
    spin: float  # radians per frame
    color: np.ndarray

    def outline(self) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.unit @ np.array([[c, -s], [s, c]]).T * self.extent + self.centre

    def step(self, size: int) -> None:
        """Advance one frame, reflecting off the image borders (the whole outline stays inside)."""
        self.angle += self.spin
        self.centre = self.centre + self.velocity
        pts = self.outline()
        for axis in (0, 1):
            low, high = pts[:, axis].min(), pts[:, axis].max()
            if low < 0:
                self.centre[axis] -= low
                self.velocity[axis] = abs(self.velocity[axis])
            elif high > size:
                self.centre[axis] -= high - size
                self.velocity[axis] = -abs(self.velocity[axis])


def _movers(size: int, num_objects: int, bg: np.ndarray, rng: np.random.Generator) -> list[_Mover]:
    movers = []
    for _ in range(num_objects):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        unit = unit_outline(label, rng)
        unit = unit / (unit.max(0) - unit.min(0)).max()
        extent = rng.uniform(0.14, 0.30) * size
        centre = rng.uniform(0.3 * size, 0.7 * size, 2)
        speed, heading = rng.uniform(0.012, 0.025) * size, rng.uniform(0, 2 * np.pi)
        mover = _Mover(label, unit, extent, centre, speed * np.array([np.cos(heading), np.sin(heading)]),
                       rng.uniform(0, 2 * np.pi), rng.uniform(-0.08, 0.08), np.zeros(3, np.float32))
        mover.color = _pick_color(bg, mover.outline(), rng)
        movers.append(mover)
    return movers


def shapes_video_frames(num_frames: int = 48, size: int = 320, seed: int = 0,
                        num_objects: int = 4) -> Iterator[tuple[np.ndarray, list[tuple[int, np.ndarray]]]]:
    """Yield ``(frame, objects)`` per frame: a uint8 BGR image and ``(label, outline)`` per object
    (bottom to top; later ones may cover earlier ones)."""
    rng = np.random.default_rng([seed, _VIDEO_STREAM])
    bg = background(size, rng, max_clutter_lines=2)
    movers = _movers(size, num_objects, bg, rng)
    for _ in range(num_frames):
        img = bg.copy()
        objects = []
        for mover in movers:
            outline = mover.outline()
            inside = _fill((size, size), [outline]).astype(bool)
            noise = (rng.random((int(inside.sum()), 3), dtype=np.float32) - np.float32(0.5)) * np.float32(8.7)
            img[inside] = mover.color[None] + noise
            objects.append((mover.label, outline))
            mover.step(size)
        yield np.clip(img, 0, 255).astype(np.uint8), objects


def generate_shapes_video(out_file: str | os.PathLike, num_frames: int = 48, size: int = 320, fps: float = 8.0,
                          seed: int = 0, num_objects: int = 4) -> dict[str, object]:
    """Write the moving-shapes video to ``out_file`` (mp4v; the file appears only once complete).

    Returns ``{path, frames, fps, size}``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if num_objects < 1:
        raise ValueError(f"num_objects must be at least 1, got {num_objects}")
    path = Path(out_file)
    with atomic_path(path, suffix=path.suffix or ".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
        try:
            if not writer.isOpened():
                raise ValueError(f"OpenCV cannot write {path.suffix or 'this'} video files; use a .mp4 name")
            for frame, _ in shapes_video_frames(num_frames, size, seed, num_objects):
                writer.write(frame)
        finally:
            writer.release()
    return dict(path=str(path), frames=num_frames, fps=fps, size=size)
