"""Batches for the agent, without delaying a lone message and without faust's `take`.

faust's `take_events` acks its buffered events when the agent body raises or is cancelled,
which would commit the offsets of events never recorded. Here the agent stays the reader: it
puts each event into a bounded queue, and one task takes everything queued so far (up to
`max_size`) as the next batch. A message that arrives alone is handled at once; while a batch
is in Postgres, the next one accumulates, so batches grow exactly when there is a backlog.
The caller acks inside `handle`, after success; a cancelled run acks nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def run_batches(
    source: AsyncIterable[T], handle: Callable[[list[T]], Awaitable[None]], max_size: int
) -> None:
    """Feed `source` to `handle` in order, in batches of 1..`max_size` items.

    Returns when `source` ends and every item has been handled; if `handle` raises, the error
    comes out of here (and the items still queued are never handled).
    """
    queue: asyncio.Queue[T] = asyncio.Queue(maxsize=max_size)

    async def consume() -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < max_size and not queue.empty():
                batch.append(queue.get_nowait())
            await handle(batch)
            for _ in batch:
                queue.task_done()

    consumer = asyncio.create_task(consume(), name="progress-batches")
    try:
        async for item in source:
            if consumer.done():
                consumer.result()  # raises what killed it
            try:
                queue.put_nowait(item)  # the common case, without a future per item
            except asyncio.QueueFull:
                await _until_done_or_failed(queue.put(item), consumer)
        await _until_done_or_failed(queue.join(), consumer)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer


async def _until_done_or_failed(step: Awaitable[None], consumer: asyncio.Task[None]) -> None:
    """Await `step`, unless the consumer dies first: then raise its error."""
    waiter = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({waiter, consumer}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        waiter.cancel()
        raise
    if waiter in done:
        return
    waiter.cancel()
    consumer.result()  # raises what killed the consumer
    raise RuntimeError("the batch consumer stopped")  # unreachable: consume() never returns
