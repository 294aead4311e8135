"""Work started ahead for a request a worker will likely run next (`RequestLoop.anticipate`).

A worker runs one request at a time; told which one waits next, it may start that one's
effect-free part early (the compressor lays out the next job's source while the current job
encodes) so that its encoders do not idle when the request's turn comes. The request's run
then takes the result, or makes it itself when there is none, it failed, or the run drops it
(it no longer applies). Results never taken are dropped with the oldest: only work without
effects belongs here, since it may never be used.

It pays only where the early part would otherwise leave cores idle: rendering a 3D snapshot
beside its series' thumbnails, on cores the preview already saturated, ended it no sooner and
delayed the thumbnails (bench_products, products-20261206-114001.md).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

KEEP = 4  # results waiting to be taken: one per request loop, with room for a stale one


class Ahead(Generic[K, T]):
    """Tasks started ahead, by request; at most `keep`, the oldest cancelled first."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._started: OrderedDict[K, asyncio.Task[T]] = OrderedDict()

    def start(self, key: K, make: Callable[[], Coroutine[Any, Any, T]]) -> None:
        if key in self._started:
            return
        task = asyncio.create_task(make(), name=f"ahead-{key}")
        task.add_done_callback(_retrieved)
        self._started[key] = task
        while len(self._started) > self._keep:
            _, dropped = self._started.popitem(last=False)
            dropped.cancel()

    async def take(self, key: K) -> T | None:
        """The result made ahead for `key`, once ready; None when there is none or it failed
        (the run then makes it itself, and reports its own errors)."""
        task = self._started.pop(key, None)
        if task is None:
            return None
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the run was stopped while waiting: stop this too
            raise
        except Exception:
            return None

    def drop(self, key: K) -> None:
        """Stop and forget what was started for `key` (the run found it no longer applies)."""
        task = self._started.pop(key, None)
        if task is not None:
            task.cancel()


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a failure as seen: a result never taken must not log 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()
