"""Running values that logger hooks average over their interval."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


class LogBuffer:
    """Per-key history of ``(value, count)``; ``average(n)`` fills ``output`` with the weighted mean."""

    def __init__(self) -> None:
        self.val_history: OrderedDict[str, list] = OrderedDict()
        self.n_history: OrderedDict[str, list] = OrderedDict()
        self.output: OrderedDict[str, object] = OrderedDict()
        self.ready = False

    def clear(self) -> None:
        self.val_history.clear()
        self.n_history.clear()
        self.clear_output()

    def clear_output(self) -> None:
        self.output.clear()
        self.ready = False

    def update(self, values: dict, count: int = 1) -> None:
        for key, value in values.items():
            self.val_history.setdefault(key, []).append(value)
            self.n_history.setdefault(key, []).append(count)

    def average(self, n: int = 0) -> None:
        """Average the latest ``n`` values of every key (all values when ``n == 0``)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        for key, history in self.val_history.items():
            values = np.asarray(history[-n:], dtype=np.float64)
            counts = np.asarray(self.n_history[key][-n:], dtype=np.float64)
            self.output[key] = float(np.sum(values * counts) / np.sum(counts))
        self.ready = True
