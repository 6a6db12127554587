"""Ctrl-C / SIGTERM during training: finish the step, save a checkpoint, then stop.

The first signal only raises a flag that the runner checks between iterations. A
repeat within a second is taken as the same event (a terminal sends SIGINT to the
whole process group while the launcher forwards it too); a later one aborts at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

logger = logging.getLogger("detcli")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REPEAT_WINDOW_S = 1.0


class StopRequest:
    """Installs the handlers for the duration of a ``with`` block; ``requested`` names the signal."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.requested is None:
            self.requested = signal.Signals(signum).name
            self._first_at = now
            logger.warning(
                "received %s: finishing the current iteration, saving a checkpoint, then stopping "
                "(send it again to abort without saving)", self.requested,
            )
        elif now - self._first_at > _REPEAT_WINDOW_S:
            raise KeyboardInterrupt
