"""Interactive work first on the one encoder pool (docs/SCHEDULING.md, "two lanes, one pool").

A compressor runs one request loop per lane; both send their slices to the same processes.
The executor's own queue is first come, first served: a batch job keeps `max_in_flight` slices
queued, so an interactive slice would wait behind them, and the two jobs would then share the
pool half and half. `LaneGate` admits work to the pool one slot at a time instead, and a freed
slot goes to the oldest interactive caller before any batch one: an interactive job waits for
the slices already running (tens of ms), then has the pool until it yields it.

Which lane a call belongs to is the lane of the request loop it runs under: `LANE` is set once
per loop's task (`in_lane`), and every task that loop starts (a job's slices) inherits it. So
the runners, which know nothing of lanes, need no lane argument on every call.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from dicompress_schemas import Lane

T = TypeVar("T")

LANE: contextvars.ContextVar[Lane] = contextvars.ContextVar("lane", default=Lane.BATCH)


async def in_lane(lane: Lane, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in a task of its own whose context has `LANE` set to `lane` (the caller's
    context is left as it was)."""
    context = contextvars.copy_context()
    context.run(LANE.set, lane)
    return await asyncio.create_task(work, context=context)


class LaneGate:
    """`slots` admissions at a time; a freed slot goes to interactive waiters first."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire(LANE.get())
        try:
            yield
        finally:
            self._release()

    def waiting(self, lane: Lane) -> int:
        return len(self._waiting[lane])

    async def _acquire(self, lane: Lane) -> None:
        if self._free > 0 and not any(self._waiting.values()):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            elif waiter in self._waiting[lane]:  # a release may have dropped it already
                self._waiting[lane].remove(waiter)
            raise

    def _release(self) -> None:
        for lane in (Lane.INTERACTIVE, Lane.BATCH):
            queue = self._waiting[lane]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot passes straight to it
                    return
        self._free += 1
