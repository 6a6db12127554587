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
