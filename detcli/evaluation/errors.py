"""Evaluation errors a user can cause (an unknown metric, results that do not fit the dataset)."""

from __future__ import annotations

from detcli.errors import DetError


class MetricError(DetError, KeyError):
    """A metric, metric item or option the evaluation does not know."""
