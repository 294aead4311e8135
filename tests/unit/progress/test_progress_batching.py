"""Batches form from what is queued while the previous batch is handled; order is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dicompress_progress.batching import run_batches


async def items(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def test_a_backlog_is_handled_in_order_in_bounded_batches() -> None:
    batches: list[list[int]] = []

    async def handle(batch: list[int]) -> None:
        batches.append(batch)
        await asyncio.sleep(0.01)  # a transaction: meanwhile, more items queue up

    await run_batches(items(100), handle, max_size=8)
    assert [i for batch in batches for i in batch] == list(range(100))
    assert max(len(b) for b in batches) == 8
    assert len(batches) < 50  # batched, not one by one


async def test_a_lone_item_is_handled_without_waiting_for_more() -> None:
    gate: asyncio.Queue[int] = asyncio.Queue()
    seen: list[list[int]] = []
    handled = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        yield await gate.get()
        await asyncio.Event().wait()  # nothing more, for ever
        yield -1  # pragma: no cover

    async def handle(batch: list[int]) -> None:
        seen.append(batch)
        handled.set()

    task = asyncio.create_task(run_batches(source(), handle, max_size=100))
    await gate.put(7)
    async with asyncio.timeout(10):
        await handled.wait()
    assert seen == [[7]]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_error_in_handle_comes_out() -> None:
    async def handle(batch: list[int]) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await run_batches(items(50), handle, max_size=4)
