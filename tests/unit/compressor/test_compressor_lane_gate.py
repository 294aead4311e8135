"""The encoder pool's gate: interactive work first, never more admitted than slots, nothing
lost to a cancel."""

from __future__ import annotations

import asyncio

import pytest

from dicompress_compressor.lanes import LANE, LaneGate, in_lane
from dicompress_schemas import Lane


async def _hold(gate: LaneGate, name: str, order: list[str], release: asyncio.Event) -> None:
    async with gate.slot():
        order.append(name)
        await release.wait()


async def test_a_freed_slot_goes_to_interactive_work_before_older_batch_work() -> None:
    gate, order = LaneGate(1), []
    release = asyncio.Event()
    first = asyncio.create_task(in_lane(Lane.BATCH, _hold(gate, "batch-0", order, release)))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(in_lane(Lane.BATCH, _hold(gate, f"batch-{i}", order, release)))
        for i in (1, 2)
    ]
    await asyncio.sleep(0)
    urgent = asyncio.create_task(in_lane(Lane.INTERACTIVE, _hold(gate, "urgent", order, release)))
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["batch-0"]  # one slot, taken
    assert gate.waiting(Lane.BATCH) == 2
    assert gate.waiting(Lane.INTERACTIVE) == 1
    release.set()
    await asyncio.gather(first, *waiting, urgent)
    assert order == ["batch-0", "urgent", "batch-1", "batch-2"]


async def test_no_more_than_its_slots_run_at_once() -> None:
    gate, running, peak = LaneGate(3), 0, 0

    async def work(lane: Lane) -> None:
        nonlocal running, peak
        async with gate.slot():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1

    await asyncio.gather(*(in_lane(list(Lane)[i % 2], work(list(Lane)[i % 2])) for i in range(40)))
    assert peak == 3
    assert running == 0


async def test_a_cancelled_waiter_gives_up_its_place_and_its_slot() -> None:
    gate, order = LaneGate(1), []
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(gate, "holder", order, release))
    await asyncio.sleep(0)
    gone = asyncio.create_task(in_lane(Lane.INTERACTIVE, _hold(gate, "gone", order, release)))
    later = asyncio.create_task(_hold(gate, "later", order, release))
    for _ in range(3):  # both queued behind the holder
        await asyncio.sleep(0)
    assert gate.waiting(Lane.INTERACTIVE) == 1
    gone.cancel()
    release.set()
    await asyncio.gather(holder, later)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert order == ["holder", "later"]
    # every slot came back: a new caller gets one at once
    async with asyncio.timeout(1), gate.slot():
        pass


async def test_the_lane_is_the_loops_and_leaves_the_callers_as_it_was() -> None:
    async def lane_seen() -> Lane:
        return LANE.get()

    assert await in_lane(Lane.INTERACTIVE, lane_seen()) is Lane.INTERACTIVE
    assert LANE.get() is Lane.BATCH  # the default, untouched by the loop's own context
