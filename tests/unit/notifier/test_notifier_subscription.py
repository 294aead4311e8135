"""Subscription and Hub against in-memory fakes of Postgres and the socket (no I/O)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import polling
from dicompress_notifier.catchup import CatchUp
from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.model import Change, JobEvent
from dicompress_notifier.outbox import Outbox
from dicompress_notifier.store import JobState
from dicompress_notifier.subscription import Subscription, Timing

AT = datetime(2025, 1, 1, tzinfo=UTC)
FAST = Timing(poll_first_s=0.05, poll_max_s=0.1, give_up_s=0.4)


def ev(job: uuid.UUID, seq: int, *, terminal: bool = False, tenant: str = "acme") -> JobEvent:
    return JobEvent(job, seq, tenant, "X", terminal, AT, orjson.dumps({"seq": seq}))


class Activity:
    """Set whenever a fake is used, so tests wait on events instead of sleeping."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    async def until(self, condition: Any, within_s: float = 2.0) -> None:
        async with asyncio.timeout(within_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


class FakeStore:
    """The projection: rows by job, and who owns which job."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self.rows: dict[uuid.UUID, list[JobEvent]] = {}
        self.owners: dict[uuid.UUID, str] = {}
        self.states: dict[uuid.UUID, JobState] = {}
        self.calls: list[tuple[int, int | None]] = []
        self.asked: Counter[uuid.UUID] = Counter()  # reads of events, by job

    async def owner(self, job_id: uuid.UUID) -> str | None:
        return self.owners.get(job_id)

    async def job(self, job_id: uuid.UUID) -> JobState | None:
        if job_id in self.states:
            return self.states[job_id]
        owner = self.owners.get(job_id)
        if owner is None:
            return None
        return JobState(owner, -1, {"status": "queued", "slices_done": 0})

    async def events(
        self, job_id: uuid.UUID, tenant: str, after_seq: int, before_seq: int | None = None
    ) -> list[JobEvent]:
        self.calls.append((after_seq, before_seq))
        self.asked[job_id] += 1
        self.activity.changed.set()
        return [
            e
            for e in self.rows.get(job_id, [])
            if e.tenant == tenant
            and (e.seq > after_seq or e.terminal)
            and (before_seq is None or e.seq < before_seq)
        ]


class FakeSocket:
    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, frame: str) -> None:
        self.sent.append(orjson.loads(frame))
        self.activity.changed.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self.activity.changed.set()


@pytest.fixture
async def wired() -> AsyncIterator[tuple[Hub, FakeStore, FakeSocket, Outbox]]:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    activity = Activity()
    socket = FakeSocket(activity)
    outbox = Outbox(socket, coalesce_at=50, limit=100)
    writer = asyncio.create_task(outbox.run())
    yield hub, FakeStore(activity), socket, outbox
    writer.cancel()


def subscribe(
    hub: Hub,
    store: FakeStore,
    outbox: Outbox,
    job: uuid.UUID,
    since: int | None = -1,
    **kw: Any,
) -> tuple[Subscription, asyncio.Task[None]]:
    sub = Subscription(
        job,
        kw.pop("tenant", "acme"),
        since,
        hub=hub,
        store=store,  # type: ignore[arg-type]  # duck-typed store
        catch_up=kw.pop("catch_up", None) or CatchUp(store, hub),
        outbox=outbox,
        max_queue=kw.pop("max_queue", 100),
        timing=kw.pop("timing", FAST),
        # FakeStore's projection never moves (its snapshot is always at seq -1): these tests
        # are about the relay; the wait for the projection has tests of its own
        end_after_projection=kw.pop("end_after_projection", False),
    )
    return sub, asyncio.create_task(sub.run())


async def poll_periods(hub: Hub, store: FakeStore, periods: int = 4) -> None:
    """Return once `periods` poll periods have passed, shown by a control subscription (on a
    socket of its own) that lacks a seq and so asks Postgres once a period: a positive signal
    that a subscription which polled would have done so by now, where a fixed wait can pass
    falsely on a slow machine."""
    control, socket = uuid.uuid4(), FakeSocket(Activity())
    outbox = Outbox(socket, coalesce_at=50, limit=100)
    writer = asyncio.create_task(outbox.run())
    _, task = subscribe(hub, store, outbox, control)
    try:
        hub.publish(ev(control, 0))
        await socket.activity.until(lambda: len(socket.sent) == 1)  # it follows the job
        hub.publish(ev(control, 2))  # seq 1 never comes: it asks Postgres once a period
        await store.activity.until(lambda: store.asked[control] > periods, within_s=10)
    finally:
        task.cancel()
        writer.cancel()


def event_seqs(socket: FakeSocket) -> list[int]:
    return [f["seq"] for f in socket.sent if f["op"] == "event"]


async def test_head_from_postgres_is_spliced_before_the_cache(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    store.rows[job] = [ev(job, s) for s in range(3)]
    for seq in range(3, 6):
        hub.publish(ev(job, seq, terminal=seq == 5))
    _, task = subscribe(hub, store, outbox, job)
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 6)
    assert event_seqs(socket) == [0, 1, 2, 3, 4, 5]
    assert store.calls == [(-1, 3)]
    assert hub.listener_count() == 0  # left after the end


async def test_live_events_after_joining_arrive_once_in_order(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    hub.publish(ev(job, 0))
    _, task = subscribe(hub, store, outbox, job)
    await asyncio.sleep(0)  # let the task join the hub
    for seq in [2, 1, 1, 3]:
        hub.publish(ev(job, seq, terminal=seq == 3))
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 4)
    assert event_seqs(socket) == [0, 1, 2, 3]


async def test_a_seq_the_stream_never_brings_is_fetched_from_postgres(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    hub.publish(ev(job, 0))
    _, task = subscribe(hub, store, outbox, job)
    await asyncio.sleep(0)
    store.rows[job] = [ev(job, 1)]  # projected, but the notifier's feed missed it
    hub.publish(ev(job, 2))
    hub.publish(ev(job, 3, terminal=True))
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 4)
    assert event_seqs(socket) == [0, 1, 2, 3]


async def test_a_lost_seq_of_a_finished_job_gives_a_gap_then_a_snapshot(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 2, terminal=True))
    _, task = subscribe(hub, store, outbox, job)
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 3)
    assert [f["op"] for f in socket.sent] == ["gap", "snapshot", "event"]
    assert socket.sent[0]["reason"] == "not-in-log"
    assert event_seqs(socket) == [2]  # the end always arrives, after the hole


async def test_a_terminal_event_stuck_behind_a_lost_live_seq_is_sent_anyway(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    _, task = subscribe(hub, store, outbox, job)
    await asyncio.sleep(0)
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 2, terminal=True))  # seq 1 never comes, from anywhere
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 4)
    assert [f["op"] for f in socket.sent] == ["event", "gap", "snapshot", "event"]
    assert socket.sent[1]["reason"] == "missing-events"
    assert event_seqs(socket) == [0, 2]


async def test_a_hole_before_an_end_the_projection_has_is_not_waited_for(wired: Any) -> None:
    """A re-run's failure past the seqs its crashed first run could have used (`attempts`):
    once the projection has applied the end, the hole before it is final; the end goes out
    then, not after give_up_s."""
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    slow = Timing(poll_first_s=0.05, poll_max_s=0.1, give_up_s=60.0)
    _, task = subscribe(hub, store, outbox, job, end_after_projection=True, timing=slow)
    await asyncio.sleep(0)
    for seq in range(3):
        hub.publish(ev(job, seq))
    hub.publish(ev(job, 7, terminal=True))  # 3..6 were never logged
    await socket.activity.until(lambda: event_seqs(socket) == [0, 1, 2])
    store.rows[job] = [ev(job, s) for s in range(3)] + [ev(job, 7, terminal=True)]
    hub.notified(orjson.dumps({"job_id": str(job), "tenant": "acme", "last_seq": 7}).decode())
    await asyncio.wait_for(task, 5)
    await socket.activity.until(lambda: event_seqs(socket) == [0, 1, 2, 7])
    assert [f["op"] for f in socket.sent][-3:] == ["gap", "snapshot", "event"]


async def test_without_since_seq_a_snapshot_comes_first_then_the_later_events(
    wired: Any,
) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    store.states[job] = JobState("acme", 2, {"status": "running", "slices_done": 1})
    for seq in range(5):
        hub.publish(ev(job, seq))
    _, task = subscribe(hub, store, outbox, job, since=None)
    await socket.activity.until(lambda: len(socket.sent) == 3)
    assert socket.sent[0] == {
        "op": "snapshot",
        "job_id": str(job),
        "seq": 2,
        "job": {"status": "running", "slices_done": 1},
    }
    assert event_seqs(socket) == [3, 4]
    hub.publish(ev(job, 5, terminal=True))
    await asyncio.wait_for(task, 2)
    assert event_seqs(socket) == [3, 4, 5]


async def test_a_snapshot_of_a_finished_job_ends_the_subscription(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    store.states[job] = JobState("acme", 7, {"status": "completed", "slices_done": 5})
    _, task = subscribe(hub, store, outbox, job, since=None)
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 1)
    assert socket.sent[0]["op"] == "snapshot"
    assert socket.sent[0]["job"]["status"] == "completed"


async def test_a_notification_makes_a_lagging_subscription_read_postgres(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    store.owners[job] = "acme"
    _, task = subscribe(hub, store, outbox, job)
    await store.activity.until(lambda: len(store.calls) == 1)  # the head, at the start
    store.rows[job] = [ev(job, 0), ev(job, 1, terminal=True)]  # only the projection has them
    hub.wake(Change(job, "acme", 1))
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: len(socket.sent) == 2)
    assert event_seqs(socket) == [0, 1]
    assert len(store.calls) == 2  # one read per notification, no polling


async def test_an_idle_subscription_never_polls_postgres(wired: Any) -> None:
    hub, store, _, outbox = wired
    job = uuid.uuid4()
    _, task = subscribe(hub, store, outbox, job)
    await store.activity.until(lambda: len(store.calls) == 1)
    await poll_periods(hub, store)  # several poll periods of the old design
    assert store.asked[job] == 1
    assert not task.done()
    task.cancel()


async def test_a_job_of_another_tenant_goes_silent_like_an_unknown_job(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    _, task = subscribe(hub, store, outbox, job, tenant="intruder")
    await store.activity.until(lambda: len(store.calls) >= 1)  # the head asked
    assert socket.sent == []  # unknown job: the subscriber waits for it
    store.owners[job] = "acme"
    hub.wake(Change(job, "acme", 0))  # the projection's notification names the owner
    await polling.eventually(lambda: hub.listener_count() == 0, "the intruder to leave", 2)
    hub.publish(ev(job, 0))  # nothing of the job reaches the intruder, and no error either
    hub.publish(ev(job, 1, terminal=True))
    await poll_periods(hub, store)
    assert not task.done()  # still waiting, as for a job nobody has heard of
    assert socket.sent == []
    task.cancel()


async def test_a_cached_job_of_another_tenant_sends_the_unknown_jobs_snapshot(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    hub.publish(ev(job, 0))  # only the cache knows the job: acme's
    hub.publish(ev(job, 1))
    _, task = subscribe(hub, store, outbox, job, since=None, tenant="intruder")
    await socket.activity.until(lambda: len(socket.sent) == 1)
    assert socket.sent == [{"op": "snapshot", "job_id": str(job), "seq": -1, "job": None}]
    _, resumed = subscribe(hub, store, outbox, job, since=0, tenant="intruder")
    await poll_periods(hub, store)
    assert not resumed.done()  # resuming an unknown job sends nothing, not a gap
    assert len(socket.sent) == 1
    task.cancel()
    resumed.cancel()


async def test_a_full_inbox_closes_the_connection_with_1013(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    sub, task = subscribe(hub, store, outbox, job, max_queue=2)
    # before the task runs at all: nothing drains the inbox
    for seq in range(3):
        sub.push(ev(job, seq))
    await socket.activity.until(lambda: socket.closed is not None)
    assert socket.closed is not None
    assert socket.closed[0] == 1013
    task.cancel()


async def test_hub_fans_out_to_listeners_of_the_job_only() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    got: dict[str, list[int]] = {"a": [], "b": []}
    job_a, job_b = uuid.uuid4(), uuid.uuid4()

    class Listener:
        def __init__(self, name: str, job_id: uuid.UUID) -> None:
            self.name, self.job_id = name, job_id

        def push(self, event: JobEvent) -> None:
            got[self.name].append(event.seq)

        def poke(self, change: Change) -> None:
            got[self.name].append(-1)

        def projected(self, change: Change) -> None:
            got[self.name].append(-2)

    hub.publish(ev(job_a, 0))
    a = Listener("a", job_a)
    assert [e.seq for e in hub.join(a, -1)] == [0]
    hub.join(Listener("b", job_b), -1)
    hub.publish(ev(job_a, 1))
    hub.leave(a)
    hub.publish(ev(job_a, 2))
    assert got == {"a": [1], "b": []}
    assert hub.listener_count() == 1


async def test_a_notification_the_live_stream_already_covered_reads_nothing(
    wired: Any,
) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    store.owners[job] = "acme"
    _, task = subscribe(hub, store, outbox, job)
    await store.activity.until(lambda: len(store.calls) == 1)
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 1))
    await socket.activity.until(lambda: len(event_seqs(socket)) == 2)
    hub.wake(Change(job, "acme", 1))  # Kafka was faster than the projection, as usual
    await poll_periods(hub, store, 3)
    assert store.asked[job] == 1
    assert not task.done()
    task.cancel()


async def test_the_end_waits_until_the_projection_has_applied_it(wired: Any) -> None:
    """Read-your-writes: the live stream has the terminal event first; it goes out only when
    a notification says the projection holds its seq, so GET /jobs/{id} then answers the end."""
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    _, task = subscribe(hub, store, outbox, job, end_after_projection=True)
    await asyncio.sleep(0)
    for seq in range(3):
        hub.publish(ev(job, seq, terminal=seq == 2))
    await socket.activity.until(lambda: event_seqs(socket) == [0, 1])
    payload = {"job_id": str(job), "tenant": "acme", "last_seq": 1}
    asked = store.asked[job]
    hub.notified(orjson.dumps(payload).decode())  # the projection is at seq 1: not yet
    # the held end makes it read Postgres once a period: a read after the notification shows
    # it has weighed releasing the end since
    await store.activity.until(lambda: store.asked[job] > asked)
    assert event_seqs(socket) == [0, 1]
    assert not task.done()
    hub.notified(orjson.dumps({**payload, "last_seq": 2}).decode())
    await asyncio.wait_for(task, 2)
    await socket.activity.until(lambda: event_seqs(socket) == [0, 1, 2])


async def test_a_held_end_is_found_by_reading_when_its_notification_is_lost(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    _, task = subscribe(hub, store, outbox, job, end_after_projection=True)
    await asyncio.sleep(0)
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 1, terminal=True))
    await socket.activity.until(lambda: event_seqs(socket) == [0])
    store.rows[job] = [ev(job, 0), ev(job, 1, terminal=True)]  # applied; NOTIFY lost
    await asyncio.wait_for(task, 2)  # the poll (poll_first_s, backing off) finds it
    await socket.activity.until(lambda: event_seqs(socket) == [0, 1])


async def test_an_end_past_the_snapshots_seq_waits_for_the_projection(wired: Any) -> None:
    hub, store, socket, outbox = wired
    job = uuid.uuid4()
    store.states[job] = JobState("acme", 1, {"status": "running", "slices_done": 0})
    hub.publish(ev(job, 2, terminal=True))  # seq 2 > snapshot 1: not known applied
    store.rows[job] = []
    _, task = subscribe(hub, store, outbox, job, since=None, end_after_projection=True)
    await socket.activity.until(lambda: [f["op"] for f in socket.sent] == ["snapshot"])
    assert not task.done()  # held: the snapshot says seq 1
    hub.notified(orjson.dumps({"job_id": str(job), "tenant": "acme", "last_seq": 2}).decode())
    await asyncio.wait_for(task, 2)
    assert event_seqs(socket) == [2]
