"""The next job's source laid out while the current one encodes (`RequestLoop.anticipate`).

A job's header pass (list the source, a ranged GET and a parse per object: 0.35-0.55 s for
399 slices in a 4-study burst) runs before its first slice reaches the pool, so the encoder
processes idled that long between two jobs. Laid out ahead, the next job starts encoding at
once. The layout is what the job's own pass would find a few seconds later (the same request,
read after it was made either way); it reads only the source, in an allowed bucket, and writes
nothing. A layout never taken (the request went elsewhere after a rebalance, or another came
first) is dropped with the oldest, and a failed one is made again by the job itself, which
then reports its own error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from dicompress_compressor.layout import Layout

KEEP = 4  # layouts waiting to be taken: one per lane's loop, with room for a stale one


class Prefetched:
    """Layouts being made ahead, by job id; at most `keep`, the oldest dropped first."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._made: OrderedDict[uuid.UUID, asyncio.Task[Layout]] = OrderedDict()

    def start(self, job_id: uuid.UUID, make: Callable[[], Coroutine[Any, Any, Layout]]) -> None:
        if job_id in self._made:
            return
        task = asyncio.create_task(make(), name=f"layout-{job_id}")
        task.add_done_callback(_retrieved)
        self._made[job_id] = task
        while len(self._made) > self._keep:
            _, dropped = self._made.popitem(last=False)
            dropped.cancel()

    async def take(self, job_id: uuid.UUID) -> Layout | None:
        """The layout made ahead for this job, or None (none, or it failed: make it now)."""
        task = self._made.pop(job_id, None)
        if task is None:
            return None
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the job was stopped while waiting: stop its layout too
            raise
        except Exception:  # the job's own pass reports what is wrong
            return None


def _retrieved(task: asyncio.Task[Layout]) -> None:
    """Mark a failure as seen: a layout never taken must not log 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()
