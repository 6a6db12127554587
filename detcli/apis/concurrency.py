"""``concurrent``: bound how many inferences run at once, each on its own CUDA stream.

The guide's async example fills an ``asyncio.Queue`` with ``torch.cuda.Stream``s; each
``async with concurrent(queue):`` block borrows one (waiting while all are lent out),
makes it the current stream, and returns it afterwards. On a CPU-only machine put any
tokens in the queue (``None`` will do): the queue size still bounds concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import torch

logger = logging.getLogger("detcli")


@contextlib.asynccontextmanager
async def concurrent(streamqueue: asyncio.Queue, trace_name: str = "concurrent",
                     name: str = "stream") -> AsyncIterator[None]:
    """Borrow a stream (or token) from ``streamqueue`` for the body of the ``async with``."""
    token = await streamqueue.get()
    try:
        if isinstance(token, torch.cuda.Stream):
            with torch.cuda.stream(token):
                logger.debug("%s %s starting on %s", trace_name, name, token)
                yield
        else:
            yield
    finally:
        streamqueue.task_done()
        streamqueue.put_nowait(token)


@contextlib.asynccontextmanager
async def completed(trace_name: str = "", name: str = "", sleep_interval: float = 0.05,
                    streams: list | None = None) -> AsyncIterator[None]:
    """After the body, wait (without blocking the loop) until the work queued on ``streams`` is done."""
    if not torch.cuda.is_available():
        yield
        return
    streams = [s or torch.cuda.current_stream() for s in (streams or [None])]
    yield
    events = [s.record_event() for s in streams]
    while not all(e.query() for e in events):
        await asyncio.sleep(sleep_interval)
    logger.debug("%s %s completed", trace_name, name)
