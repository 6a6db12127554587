"""Shared heads: layers every RoI feature goes through before the box and mask heads."""

from .res_layer import ResLayer

__all__ = ["ResLayer"]
