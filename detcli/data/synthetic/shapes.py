"""The shapes scene generator: filled shapes on textured backgrounds, with exact masks.

Each image is drawn from its own random stream ``(seed, split, index)``, so a set is
reproducible and any image can be regenerated alone.

Scene rules (chosen to make a detector learn shape, not colour):

* classes ``circle``, ``square``, ``triangle``, ``star``; every class draws its colour
  from the same distribution, so only the outline tells them apart;
* object size 8%-40% of the image side, random rotation, 1-6 objects per image;
* backgrounds: a two-colour gradient, sinusoidal stripes, noise and a few thin clutter
  lines (not annotated); each object's colour keeps a margin from the background under it;
* occlusion: objects are painted in order and may overlap; every object keeps at least
  60% of its area visible, and is annotated by the polygons of its *visible* part. An
  unoccluded object's polygon is its exact analytic outline; an occluded one's comes from
  the contours of its visible region traced on a 4x finer grid. The image is painted
  from the rasterised annotations themselves, so masks and pixels agree (up to a few
  pixels where two occlusion boundaries meet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
import pycocotools.mask as mask_utils

SHAPE_CLASSES = ("circle", "square", "triangle", "star")
MIN_VISIBLE = 0.6  # fraction of an object's area that must stay visible
_SUPERSAMPLE = 4
_SHIFT = 4  # fixed-point bits for cv2.fillPoly sub-pixel vertices


@dataclass(frozen=True)
class SceneSpec:
    """How hard the scenes are: objects per image, their size (fraction of the image side),
    and how many unannotated clutter lines the background gets (at most)."""

    min_objects: int = 1
    max_objects: int = 6
    scale_range: tuple[float, float] = (0.08, 0.40)
    max_clutter_lines: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"scale_range must satisfy 0 < min <= max <= 1, got {self.scale_range}")


@dataclass
class ShapeObject:
    """One annotated object: its class, visible-part polygons and appearance."""

    label: int
    outline: np.ndarray  # (k, 2) analytic polygon in pixel-corner coordinates
    color: np.ndarray  # base BGR colour, float
    shade: np.ndarray  # gradient direction * amplitude for its fill
    polygons: list[np.ndarray] = field(default_factory=list)  # flat [x0, y0, ...] visible parts


def unit_outline(label: int, rng: np.random.Generator) -> np.ndarray:
    """The outline of class ``label`` centred at 0 with circumradius 1, as (k, 2) points."""
    name = SHAPE_CLASSES[label]
    if name == "circle":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name == "square":
        t = np.pi / 4 + np.arange(4) * np.pi / 2
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name == "triangle":
        t = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return np.stack([np.cos(t), np.sin(t)], 1)
    # star: five points, inner radius varies a little
    t = -np.pi / 2 + np.arange(10) * np.pi / 5
    r = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.38, 0.5))
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _place(label: int, size: int, rng: np.random.Generator, scale_range: tuple[float, float]) -> np.ndarray:
    """A randomly sized, rotated and positioned outline, fully inside the image."""
    unit = unit_outline(label, rng)
    extent = rng.uniform(*scale_range) * size  # bounding extent of the shape
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = unit @ rot.T
    span = pts.max(0) - pts.min(0)
    pts = pts * (extent / span.max())
    lo, hi = -pts.min(0), size - pts.max(0)
    return pts + rng.uniform(lo, hi)


def _fill(shape_hw: tuple[int, int], polys: list[np.ndarray], scale: float = 1.0, offset=(0.0, 0.0)) -> np.ndarray:
    """Rasterise polygons (pixel-corner coordinates) onto a uint8 canvas with OpenCV."""
    canvas = np.zeros(shape_hw, np.uint8)
    pts = [np.round(((p.reshape(-1, 2) - offset) * scale - 0.5) * (1 << _SHIFT)).astype(np.int32) for p in polys]
    cv2.fillPoly(canvas, pts, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return canvas


def _visible_parts(obj: ShapeObject, above: list[ShapeObject], size: int) -> list[np.ndarray] | None:
    """Polygons of the part of ``obj`` not covered by ``above``; ``None`` if it has holes.

    An uncovered object keeps its exact outline."""
    x0, y0 = np.floor(obj.outline.min(0)).astype(int) - 1
    x1, y1 = np.ceil(obj.outline.max(0)).astype(int) + 1
    hw = ((y1 - y0) * _SUPERSAMPLE, (x1 - x0) * _SUPERSAMPLE)
    mask = _fill(hw, [obj.outline], _SUPERSAMPLE, (x0, y0))
    full = int(mask.sum())
    for other in above:
        mask &= 1 - _fill(hw, [other.outline], _SUPERSAMPLE, (x0, y0))
    if int(mask.sum()) == full:
        return [obj.outline.reshape(-1).copy()]
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)[-2:]
    if hierarchy is None:
        return []
    if (hierarchy.reshape(-1, 4)[:, 3] >= 0).any():
        return None
    parts = []
    for c in contours:
        if cv2.contourArea(c) < (2 * _SUPERSAMPLE) ** 2:  # slivers under ~4 px
            continue
        xy = (c.reshape(-1, 2) + 0.5) / _SUPERSAMPLE + np.array([x0, y0])
        parts.append(np.clip(xy, 0, size).reshape(-1))
    return parts


def _visible_fraction(obj: ShapeObject, above: list[ShapeObject], size: int) -> float:
    own = _fill((size, size), [obj.outline])
    total = own.sum()
    if total == 0:
        return 0.0
    cover = _fill((size, size), [o.outline for o in above]) if above else np.zeros_like(own)
    return float((own & (1 - cover)).sum()) / float(total)


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return yy, xx


def background(size: int, rng: np.random.Generator, max_clutter_lines: int = 4) -> np.ndarray:
    """A non-uniform float32 BGR texture: gradient + stripes + blotches + grain + clutter lines."""
    yy, xx = _grid(size)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    freq, sa = rng.uniform(4, 18), rng.uniform(0, np.pi)
    stripes = np.sin(2 * np.pi * freq * (np.cos(sa) * xx + np.sin(sa) * yy) + rng.uniform(0, 2 * np.pi))
    stripes *= np.float32(rng.uniform(6, 22))
    img = np.empty((size, size, 3), np.float32)
    for ch in range(3):  # 2-D passes: cheaper than broadcasting over the channel axis
        img[..., ch] = t * np.float32(c1[ch] - c0[ch]) + stripes + np.float32(c0[ch])
    cells = max(2, size // 24)
    blotches = rng.standard_normal((cells, cells, 3), dtype=np.float32)
    img += np.float32(rng.uniform(6, 16)) * cv2.resize(blotches, (size, size), interpolation=cv2.INTER_CUBIC)
    grain = rng.random((size, size, 3), dtype=np.float32) - np.float32(0.5)  # uniform: much faster than normal
    img += grain * np.float32(rng.uniform(1.5, 4) * np.sqrt(12.0))
    for _ in range(rng.integers(0, max_clutter_lines + 1)):
        p0, p1 = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
        color = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), color, int(rng.integers(1, 3)))
    return img


def _pick_color(bg: np.ndarray, outline: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A saturated random colour that stands out from the background under the shape."""
    x0, y0 = np.clip(outline.min(0).astype(int), 0, bg.shape[1] - 1)
    x1, y1 = np.clip(np.ceil(outline.max(0)).astype(int), x0 + 1, bg.shape[1])
    local = bg[y0:y1, x0:x1].reshape(-1, 3).mean(0)
    color = rng.uniform(0, 255, 3)
    for _ in range(20):
        hsv = np.array([[[rng.uniform(0, 180), rng.uniform(90, 255), rng.uniform(60, 255)]]], np.uint8)
        color = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        if np.abs(color - local).sum() > 110:
            break
    return color


def sample_scene(size: int, rng: np.random.Generator,
                 spec: SceneSpec = SceneSpec()) -> tuple[np.ndarray, list[ShapeObject]]:
    """Draw one scene: the uint8 BGR image and its annotated objects (bottom to top)."""
    bg = background(size, rng, spec.max_clutter_lines)
    objects: list[ShapeObject] = []
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        for _attempt in range(10):
            label = int(rng.integers(len(SHAPE_CLASSES)))
            outline = _place(label, size, rng, spec.scale_range)
            cand = ShapeObject(label, outline, _pick_color(bg, outline, rng),
                               rng.uniform(-1, 1, 2) * rng.uniform(10, 35))
            if all(_visible_fraction(o, [*objects[i + 1:], cand], size) >= MIN_VISIBLE
                   for i, o in enumerate(objects)):
                objects.append(cand)
                break
    # annotations of the visible parts; drop the top object while any part has a hole
    while objects:
        parts = [_visible_parts(o, objects[i + 1:], size) for i, o in enumerate(objects)]
        if all(p is not None for p in parts):
            break
        objects.pop()
    for obj, p in zip(objects, parts if objects else []):
        obj.polygons = [np.round(poly, 2) for poly in p]  # as written to json, so pixels follow the file
    objects = [o for o in objects if o.polygons]
    return _paint(bg, objects, size, rng), objects


def rasterise(polygons: list[np.ndarray], size: int) -> np.ndarray:
    """The HxW uint8 mask pycocotools makes of an annotation's polygons (what training sees)."""
    valid = [np.asarray(p, np.float64) for p in polygons if len(p) >= 6]
    if not valid:
        return np.zeros((size, size), np.uint8)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(valid, size, size)))


def _paint(bg: np.ndarray, objects: list[ShapeObject], size: int, rng: np.random.Generator) -> np.ndarray:
    img = bg
    for obj in objects:  # bottom to top
        mask = rasterise(obj.polygons, size).astype(bool)
        ys, xs = np.nonzero(mask)
        shade = (xs * np.float32(obj.shade[0] / size) + ys * np.float32(obj.shade[1] / size)).astype(np.float32)
        noise = (rng.random((int(mask.sum()), 3), dtype=np.float32) - np.float32(0.5)) * np.float32(8.7)
        img[mask] = obj.color[None] + shade[:, None] + noise
    return np.clip(img, 0, 255).astype(np.uint8)
