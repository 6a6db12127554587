"""Transforms that change pixel values only: Normalize, PhotoMetricDistortion, Corrupt."""

from __future__ import annotations

from typing import Any

import numpy as np

from detcli.data.pipelines.image_ops import bgr2hsv, hsv2bgr, imnormalize
from detcli.errors import ConfigError
from detcli.registry import PIPELINES


@PIPELINES.register_module()
class Normalize:
    """``(img - mean) / std`` as float32, converting BGR to RGB first when ``to_rgb``;
    records ``img_norm_cfg``."""

    def __init__(self, mean: Any, std: Any, to_rgb: bool = True) -> None:
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in results.get("img_fields", ["img"]):
            results[key] = imnormalize(results[key], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std}, to_rgb={self.to_rgb})"


@PIPELINES.register_module()
class PhotoMetricDistortion:
    """Random brightness, contrast (before or after the HSV steps), saturation, hue and
    channel swap, each applied with probability 1/2, in that order (SSD style)."""

    def __init__(self, brightness_delta: float = 32, contrast_range: tuple = (0.5, 1.5),
                 saturation_range: tuple = (0.5, 1.5), hue_delta: float = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def _contrast(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            img *= np.random.uniform(self.contrast_lower, self.contrast_upper)
        return img

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img_fields" in results and results["img_fields"] != ["img"]:
            raise ValueError("PhotoMetricDistortion supports a single image field")
        img = results["img"].astype(np.float32)
        if np.random.randint(2):
            img += np.random.uniform(-self.brightness_delta, self.brightness_delta)
        contrast_first = np.random.randint(2) == 1
        if contrast_first:
            img = self._contrast(img)
        img = bgr2hsv(img)
        if np.random.randint(2):
            img[..., 1] *= np.random.uniform(self.saturation_lower, self.saturation_upper)
        if np.random.randint(2):
            img[..., 0] += np.random.uniform(-self.hue_delta, self.hue_delta)
            img[..., 0][img[..., 0] > 360] -= 360
            img[..., 0][img[..., 0] < 0] += 360
        img = hsv2bgr(img)
        if not contrast_first:
            img = self._contrast(img)
        if np.random.randint(2):
            img = img[..., np.random.permutation(3)]
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return (f"PhotoMetricDistortion(brightness_delta={self.brightness_delta}, "
                f"contrast_range={(self.contrast_lower, self.contrast_upper)}, "
                f"saturation_range={(self.saturation_lower, self.saturation_upper)}, hue_delta={self.hue_delta})")


# imagecorruptions 1.1.2 (2020) imports pkg_resources, which setuptools 81 removed, and calls
# APIs that numpy 2 and scikit-image 0.19+ dropped; its maintained fork installs the same module.
_CORRUPTIONS_FIX = "pip uninstall -y imagecorruptions && pip install imagecorruptions-imaug"
_CORRUPTIONS_INSTALL = "pip install imagecorruptions-imaug (or: pip install 'detcli[optional]')"


def import_imagecorruptions(corruption: str) -> Any:
    """The ``imagecorruptions`` module, or one line saying whether it is missing or broken (and why)."""
    try:
        import imagecorruptions
    except ImportError as err:
        if isinstance(err, ModuleNotFoundError) and err.name == "imagecorruptions":
            raise ConfigError(
                f"the Corrupt transform ({corruption!r}) needs the optional package 'imagecorruptions'",
                hint=_CORRUPTIONS_INSTALL,
            ) from None
        why = " (setuptools 81+ has no pkg_resources)" if getattr(err, "name", None) == "pkg_resources" else ""
        raise ConfigError(
            f"the Corrupt transform ({corruption!r}): imagecorruptions is installed but cannot be imported: "
            f"{err}{why}",
            hint=f"{_CORRUPTIONS_FIX} (a maintained fork that works with current setuptools, numpy, scikit-image)",
        ) from err
    return imagecorruptions


@PIPELINES.register_module()
class Corrupt:
    """Apply an ``imagecorruptions`` corruption (robustness benchmarks); needs that package."""

    def __init__(self, corruption: str, severity: int = 1) -> None:
        module = import_imagecorruptions(corruption)
        names = list(module.get_corruption_names("all"))
        if corruption not in names:
            raise ConfigError(f"unknown corruption {corruption!r} for the Corrupt transform",
                              hint=f"use one of: {', '.join(names)}")
        if not 1 <= int(severity) <= 5:
            raise ConfigError(f"Corrupt severity must be 1 to 5, got {severity}")
        self._corrupt = module.corrupt
        self.corruption = corruption
        self.severity = severity

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img_fields" in results and results["img_fields"] != ["img"]:
            raise ValueError("Corrupt supports a single image field")
        try:
            results["img"] = self._corrupt(results["img"].astype(np.uint8), corruption_name=self.corruption,
                                           severity=self.severity)
        except (TypeError, AttributeError) as err:
            if "multichannel" not in str(err) and "np.float_" not in str(err):
                raise
            raise ConfigError(f"imagecorruptions fails on {self.corruption!r} with this numpy/scikit-image: {err}",
                              hint=_CORRUPTIONS_FIX) from err
        return results

    def __repr__(self) -> str:
        return f"Corrupt(corruption={self.corruption}, severity={self.severity})"
