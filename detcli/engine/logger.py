"""The ``detcli`` logger of a training run: console lines on every rank's stderr (errors only
off rank 0) and the ``<work_dir>/<timestamp>.log`` text file on rank 0."""

from __future__ import annotations

import logging
import sys

from detcli.engine.dist import get_dist_info

_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
_MARK = "_detcli_run_handler"


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now (a progress bar redirects it while it runs)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get_root_logger(log_file: str | None = None, log_level: int | str = "INFO") -> logging.Logger:
    """Configure and return the ``detcli`` logger for a run (replacing an earlier run's handlers)."""
    logger = logging.getLogger("detcli")
    close_run_handlers(logger)
    rank, _ = get_dist_info()
    level = log_level if rank == 0 else logging.ERROR
    formatter = logging.Formatter(_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(_CurrentStderr())]  # type: ignore[arg-type]
    if log_file is not None and rank == 0:
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.setLevel(level)
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def close_run_handlers(logger: logging.Logger | None = None) -> None:
    """Remove (and close) the handlers ``get_root_logger`` added."""
    logger = logger or logging.getLogger("detcli")
    for handler in list(logger.handlers):
        if getattr(handler, _MARK, False):
            logger.removeHandler(handler)
            handler.close()
    logger.propagate = True
