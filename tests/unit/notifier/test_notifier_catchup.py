"""CatchUp and the hub's side of it: one Postgres read per lagging job, not one per subscriber."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from dicompress_notifier.catchup import CatchUp
from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.model import Change, JobEvent
from dicompress_notifier.outbox import Outbox
from dicompress_notifier.store import JobState
from dicompress_notifier.subscription import Subscription, Timing

AT = datetime(2025, 1, 1, tzinfo=UTC)
FAST = Timing(poll_first_s=0.05, poll_max_s=0.1, give_up_s=5.0)


def ev(job: uuid.UUID, seq: int, *, terminal: bool = False) -> JobEvent:
    return JobEvent(job, seq, "acme", "X", terminal, AT, orjson.dumps({"seq": seq}))


class GatedStore:
    """The projection's events; `events` waits for `gate` (open by default) and counts reads."""

    def __init__(self, changed: asyncio.Event) -> None:
        self.changed = changed  # set whenever a read starts, for the tests to wait on
        self.rows: dict[uuid.UUID, list[JobEvent]] = {}
        self.calls: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def job(self, job_id: uuid.UUID) -> JobState | None:
        return JobState("acme", -1, {"status": "queued", "slices_done": 0})

    async def owner(self, job_id: uuid.UUID) -> str | None:
        return "acme"

    async def events(
        self, job_id: uuid.UUID, tenant: str, after_seq: int, before_seq: int | None = None
    ) -> list[JobEvent]:
        self.calls.append(after_seq)
        self.changed.set()
        await self.gate.wait()
        return [
            e
            for e in self.rows.get(job_id, [])
            if (e.seq > after_seq or e.terminal) and (before_seq is None or e.seq < before_seq)
        ]


class Socket:
    def __init__(self, changed: asyncio.Event) -> None:
        self.changed = changed  # set whenever an event frame is sent
        self.seqs: list[int] = []
        self.closed: int | None = None

    async def send(self, frame: str) -> None:
        sent = orjson.loads(frame)
        if sent["op"] == "event":
            self.seqs.append(sent["seq"])
            self.changed.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = code


class Pushed:
    """A hub listener that records what it is handed."""

    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        self.pushed: list[int] = []
        self.poked: list[Change] = []
        self.figured: list[Change] = []

    def push(self, event: JobEvent) -> None:
        self.pushed.append(event.seq)

    def poke(self, change: Change) -> None:
        self.poked.append(change)

    def projected(self, change: Change) -> None:
        self.figured.append(change)


async def until(changed: asyncio.Event, condition: Any, within_s: float = 2.0) -> None:
    """Wait for `condition`, re-checked whenever a fake reports a change (never a bare sleep)."""
    async with asyncio.timeout(within_s):
        while not condition():
            changed.clear()
            await changed.wait()


async def test_every_lagging_subscriber_of_a_job_shares_one_read() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    store = GatedStore(asyncio.Event())
    catch_up = CatchUp(store, hub)
    job = uuid.uuid4()
    sockets = [Socket(store.changed) for _ in range(20)]
    outboxes = [Outbox(s, coalesce_at=50, limit=100) for s in sockets]
    tasks = [asyncio.create_task(o.run()) for o in outboxes]
    for outbox in outboxes:
        sub = Subscription(
            job,
            "acme",
            -1,
            hub=hub,
            store=store,  # type: ignore[arg-type]  # duck-typed store
            catch_up=catch_up,
            outbox=outbox,
            max_queue=100,
            timing=FAST,
        )
        tasks.append(asyncio.create_task(sub.run()))
    await until(
        store.changed, lambda: len(store.calls) == 20
    )  # each reads the head once, at its start
    store.rows[job] = [ev(job, 0), ev(job, 1), ev(job, 2, terminal=True)]
    hub.wake(Change(job, "acme", 2))  # only the projection has them: all 20 lag
    await until(store.changed, lambda: all(s.seqs == [0, 1, 2] for s in sockets))
    assert len(store.calls) == 21  # ONE catch-up read for the 20 of them
    assert catch_up.reads == 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_reader_joins_the_running_read_only_if_it_starts_early_enough() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    store = GatedStore(asyncio.Event())
    catch_up = CatchUp(store, hub)
    job = uuid.uuid4()
    store.rows[job] = [ev(job, s) for s in range(6)]
    store.gate.clear()
    first = asyncio.create_task(catch_up.events(job, "acme", 2))
    ahead = asyncio.create_task(catch_up.events(job, "acme", 4))  # lacks less: joins
    behind = asyncio.create_task(catch_up.events(job, "acme", 0))  # lacks more: own read
    await until(store.changed, lambda: len(store.calls) == 1)
    store.gate.set()
    assert [e.seq for e in await first] == [3, 4, 5]
    assert [e.seq for e in await ahead] == [5]
    assert [e.seq for e in await behind] == [1, 2, 3, 4, 5]
    assert store.calls == [2, 0]  # one after the other, never two at once


async def test_a_reader_that_goes_away_does_not_cancel_the_others_read() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    store = GatedStore(asyncio.Event())
    catch_up = CatchUp(store, hub)
    job = uuid.uuid4()
    store.rows[job] = [ev(job, 0), ev(job, 1)]
    store.gate.clear()
    leaving = asyncio.create_task(catch_up.events(job, "acme", -1))
    staying = asyncio.create_task(catch_up.events(job, "acme", -1))
    await until(store.changed, lambda: len(store.calls) == 1)
    leaving.cancel()
    store.gate.set()
    assert [e.seq for e in await staying] == [0, 1]
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert store.calls == [-1]


async def test_what_a_read_finds_goes_to_every_listener_of_the_job_once() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    job, other = uuid.uuid4(), uuid.uuid4()
    listeners = [Pushed(job), Pushed(job), Pushed(other)]
    for listener in listeners:
        hub.join(listener, -1)
    hub.publish(ev(job, 0))
    hub.fill([ev(job, 0), ev(job, 1), ev(job, 2)])  # seq 0 came live already
    assert [x.pushed for x in listeners] == [[0, 1, 2], [0, 1, 2], []]
    assert hub.history.highest(job) == 2


async def test_a_notification_the_hub_already_covers_wakes_nobody() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    job = uuid.uuid4()
    listener = Pushed(job)
    hub.join(listener, -1)
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 1))
    hub.wake(Change(job, "acme", 1))  # Kafka was ahead of the projection: nothing to read
    assert listener.poked == []
    hub.wake(Change(job, "acme", 2))  # the projection is ahead: the listener must look
    hub.wake(Change(job))  # may have missed notifications: always looks
    assert listener.poked == [Change(job, "acme", 2), Change(job)]


async def test_figures_reach_listeners_even_when_the_hub_is_ahead() -> None:
    """The live stream being ahead spares the wake-up, not the figures: only the projection
    computes them, so every notification's figures are handed on as they are."""
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    job = uuid.uuid4()
    listener = Pushed(job)
    hub.join(listener, -1)
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 1))
    figures = {"slices_per_second": 40.0, "eta_at": "2026-12-06T05:00:10+00:00", "ratio": 9.5}
    payload = {"job_id": str(job), "tenant": "acme", "last_seq": 1, "figures": figures}
    hub.notified(orjson.dumps(payload).decode())
    assert listener.poked == []  # nothing to read from Postgres
    assert listener.figured == [Change(job, "acme", 1, figures)]
    hub.notified(orjson.dumps({"job_id": str(job), "tenant": "acme", "last_seq": 1}).decode())
    # every notification is handed on (a held end may be waiting for it), figures or not
    assert listener.figured == [Change(job, "acme", 1, figures), Change(job, "acme", 1)]


class Frames:
    """A socket that keeps every frame it is sent."""

    def __init__(self, changed: asyncio.Event) -> None:
        self.changed = changed
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: str) -> None:
        self.frames.append(orjson.loads(frame))
        self.changed.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


async def test_a_subscriber_gets_the_owners_figures_after_the_events_they_reflect() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    store = GatedStore(asyncio.Event())
    job = uuid.uuid4()
    socket = Frames(store.changed)
    outbox = Outbox(socket, coalesce_at=50, limit=100)
    figures = {"slices_per_second": 25.0, "eta_at": None, "ratio": 11.25}
    early = {"job_id": str(job), "tenant": "acme", "last_seq": 0, "figures": figures}
    sub = Subscription(
        job,
        "acme",
        None,
        hub=hub,
        store=store,  # type: ignore[arg-type]  # duck-typed store
        catch_up=CatchUp(store, hub),
        outbox=outbox,
        max_queue=100,
        timing=FAST,
        end_after_projection=False,  # GatedStore's projection never moves
    )
    hub.join(sub, -1)  # joined, not yet started: no snapshot sent, so no figures either
    hub.notified(orjson.dumps(early).decode())
    hub.leave(sub)
    tasks = [asyncio.create_task(outbox.run()), asyncio.create_task(sub.run())]
    await until(store.changed, lambda: [f["op"] for f in socket.frames] == ["snapshot"])
    hub.notified(orjson.dumps({**early, "last_seq": 2}).decode())  # ahead of what was sent
    for seq in range(3):
        hub.publish(ev(job, seq))
    await until(store.changed, lambda: len(socket.frames) == 5)
    assert [f["op"] for f in socket.frames] == ["snapshot", "event", "event", "event", "figures"]
    assert socket.frames[4] == {"op": "figures", "job_id": str(job), "seq": 2, "figures": figures}
    hub.notified(orjson.dumps({**early, "last_seq": 1}).decode())  # older than what was sent
    assert outbox.idle
    assert len(socket.frames) == 5
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
