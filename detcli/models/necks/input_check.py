"""Checking, when a detector is built, that its neck takes the channels its backbone gives.

A mismatch otherwise shows as a convolution's shape error in the first forward pass,
after the data has loaded, naming neither module.
"""

from __future__ import annotations

from typing import Any

from detcli.errors import ConfigError


def check_neck_inputs(backbone: Any, neck: Any) -> None:
    """Raise ``ConfigError`` when ``neck.in_channels`` differs from ``backbone.output_channels()``.

    Backbones without ``output_channels`` (custom ones) and necks without an ``in_channels``
    list are not checked.
    """
    channels_of = getattr(backbone, "output_channels", None)
    expected = getattr(neck, "in_channels", None)
    if not callable(channels_of) or not isinstance(expected, (list, tuple)):
        return
    produced = [int(c) for c in channels_of()]
    if [int(c) for c in expected] == produced:
        return
    which = getattr(backbone, "out_indices", None)
    detail = f" (out_indices {tuple(which)})" if which is not None else ""
    raise ConfigError(
        f"neck {type(neck).__name__} in_channels {list(expected)} do not match the channels of backbone "
        f"{type(backbone).__name__}'s {len(produced)} outputs {produced}{detail}",
        hint=f"set model.neck.in_channels={produced}, or change the backbone (depth, base_channels, out_indices)",
    )


__all__ = ["check_neck_inputs"]
