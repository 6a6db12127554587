"""Colour palettes and colour parsing for drawing detections.

All colours here are RGB tuples (the order users write them in configs and
``show_result`` calls); the drawing code converts to OpenCV's BGR at the last moment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RGB = tuple[int, int, int]

NAMED_COLORS: dict[str, RGB] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "cyan": (0, 255, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}

# The per-class colours of the COCO, Pascal VOC and Cityscapes datasets (mmdetection 2.x's).
COCO_PALETTE: list[RGB] = [
    (220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230), (106, 0, 228), (0, 60, 100),
    (0, 80, 100), (0, 0, 70), (0, 0, 192), (250, 170, 30), (100, 170, 30), (220, 220, 0),
    (175, 116, 175), (250, 0, 30), (165, 42, 42), (255, 77, 255), (0, 226, 252), (182, 182, 255),
    (0, 82, 0), (120, 166, 157), (110, 76, 0), (174, 57, 255), (199, 100, 0), (72, 0, 118),
    (255, 179, 240), (0, 125, 92), (209, 0, 151), (188, 208, 182), (0, 220, 176), (255, 99, 164),
    (92, 0, 73), (133, 129, 255), (78, 180, 255), (0, 228, 0), (174, 255, 243), (45, 89, 255),
    (134, 134, 103), (145, 148, 174), (255, 208, 186), (197, 226, 255), (171, 134, 1), (109, 63, 54),
    (207, 138, 255), (151, 0, 95), (9, 80, 61), (84, 105, 51), (74, 65, 105), (166, 196, 102),
    (208, 195, 210), (255, 109, 65), (0, 143, 149), (179, 0, 194), (209, 99, 106), (5, 121, 0),
    (227, 255, 205), (147, 186, 208), (153, 69, 1), (3, 95, 161), (163, 255, 0), (119, 0, 170),
    (0, 182, 199), (0, 165, 120), (183, 130, 88), (95, 32, 0), (130, 114, 135), (110, 129, 133),
    (166, 74, 118), (219, 142, 185), (79, 210, 114), (178, 90, 62), (65, 70, 15), (127, 167, 115),
    (59, 105, 106), (142, 108, 45), (196, 172, 0), (95, 54, 80), (128, 76, 255), (201, 57, 1),
    (246, 0, 122), (191, 162, 208),
]
VOC_PALETTE: list[RGB] = [
    (106, 0, 228), (119, 11, 32), (165, 42, 42), (0, 0, 192), (197, 226, 255), (0, 60, 100),
    (0, 0, 142), (255, 77, 255), (153, 69, 1), (120, 166, 157), (0, 182, 199), (0, 226, 252),
    (182, 182, 255), (0, 0, 230), (220, 20, 60), (163, 255, 0), (0, 82, 0), (3, 95, 161),
    (0, 80, 100), (183, 130, 88),
]
CITYSCAPES_PALETTE: list[RGB] = [
    (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230),
    (119, 11, 32),
]

DATASET_PALETTES: dict[str, list[RGB]] = {
    "coco": COCO_PALETTE,
    "voc": VOC_PALETTE,
    "citys": CITYSCAPES_PALETTE,
    "cityscapes": CITYSCAPES_PALETTE,
}


def color_rgb(color: str | Sequence[int] | int | np.ndarray) -> RGB:
    """Parse one colour: a name ('green'), an RGB tuple/array, or a grey level."""
    if isinstance(color, str):
        if color not in NAMED_COLORS:
            raise ValueError(f"unknown colour name {color!r}; known: {', '.join(NAMED_COLORS)}")
        return NAMED_COLORS[color]
    if isinstance(color, (int, np.integer)):
        if not 0 <= int(color) <= 255:
            raise ValueError(f"a grey level must be in [0, 255], got {color}")
        return (int(color),) * 3  # type: ignore[return-value]
    values = np.asarray(color).reshape(-1)
    if values.size != 3 or np.any(values < 0) or np.any(values > 255):
        raise ValueError(f"a colour must be 3 values in [0, 255], got {color!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def random_palette(num_classes: int, seed: int = 42) -> list[RGB]:
    """Distinct-looking colours that are the same on every call (a private RNG, global state untouched)."""
    rng = np.random.RandomState(seed)
    return [tuple(int(v) for v in c) for c in rng.randint(0, 256, size=(num_classes, 3))]


def get_palette(palette: str | Sequence | None, num_classes: int) -> list[RGB]:
    """One RGB colour per class from any palette spelling users pass.

    ``palette`` may be a list of colours (one per class), a single colour (tuple or
    name, used for every class), ``'coco'``/``'voc'``/``'citys'``, or ``'random'``/None.
    """
    num_classes = max(int(num_classes), 1)
    if palette is None or (isinstance(palette, str) and palette == "random"):
        return random_palette(num_classes)
    if isinstance(palette, str) and palette in DATASET_PALETTES:
        colors = list(DATASET_PALETTES[palette])
        if len(colors) < num_classes:  # more classes than the dataset has: extend, keep the known ones
            colors += random_palette(num_classes)[len(colors):]
        return colors
    if isinstance(palette, list):
        colors = [color_rgb(c) for c in palette]
        if len(colors) < num_classes:
            raise ValueError(f"the palette has {len(colors)} colours but {num_classes} classes are drawn")
        return colors
    return [color_rgb(palette)] * num_classes
