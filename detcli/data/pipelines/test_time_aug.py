"""``MultiScaleFlipAug``: run the inner transforms once per (scale, flip) combination."""

from __future__ import annotations

import warnings
from typing import Any

from detcli.data.pipelines.compose import Compose
from detcli.registry import PIPELINES


@PIPELINES.register_module()
class MultiScaleFlipAug:
    """Test-time augmentation over ``img_scale`` (or ``scale_factor``) x (no flip + each
    ``flip_direction`` when ``flip``). Returns one dict whose values are lists over the
    augmentations, in the order scales-outer, flips-inner."""

    def __init__(self, transforms: list, img_scale: Any = None, scale_factor: Any = None, flip: bool = False,
                 flip_direction: str | list[str] = "horizontal") -> None:
        if (img_scale is None) == (scale_factor is None):
            raise ValueError("MultiScaleFlipAug needs exactly one of img_scale and scale_factor")
        self.transforms = Compose(transforms)
        if img_scale is not None:
            scales = img_scale if isinstance(img_scale, list) else [img_scale]
            self.img_scale = [tuple(s) for s in scales]
            self.scale_key = "scale"
        else:
            self.img_scale = scale_factor if isinstance(scale_factor, list) else [scale_factor]
            self.scale_key = "scale_factor"
        self.flip = flip
        self.flip_direction = flip_direction if isinstance(flip_direction, list) else [flip_direction]
        if not flip and self.flip_direction != ["horizontal"]:
            warnings.warn("MultiScaleFlipAug: flip_direction has no effect when flip=False", stacklevel=2)
        if flip and not any(isinstance(t, dict) and t.get("type") == "RandomFlip" for t in transforms):
            warnings.warn("MultiScaleFlipAug: flip=True has no effect without a RandomFlip transform", stacklevel=2)

    def __call__(self, results: dict[str, Any]) -> dict[str, list]:
        flips = [(False, None)] + ([(True, d) for d in self.flip_direction] if self.flip else [])
        outputs = []
        for scale in self.img_scale:
            for flip, direction in flips:
                aug = dict(results)
                aug[self.scale_key] = scale
                aug["flip"] = flip
                aug["flip_direction"] = direction
                outputs.append(self.transforms(aug))
        return {key: [out[key] for out in outputs] for key in outputs[0]}

    def __repr__(self) -> str:
        return (f"MultiScaleFlipAug(transforms={self.transforms}, img_scale={self.img_scale}, "
                f"flip={self.flip}, flip_direction={self.flip_direction})")
