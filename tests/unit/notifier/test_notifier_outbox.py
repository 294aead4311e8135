"""Outbox's direct writes: a frame skips the queue only when that keeps the order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson

from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.model import JobEvent
from dicompress_notifier.outbox import Outbox
from dicompress_notifier.store import JobState
from dicompress_notifier.subscription import Subscription, Timing

AT = datetime(2025, 1, 1, tzinfo=UTC)


def ev(job: uuid.UUID, seq: int, *, terminal: bool = False) -> JobEvent:
    return JobEvent(job, seq, "acme", "X", terminal, AT, orjson.dumps({"seq": seq}))


class Socket:
    """`send` is the queued path (it can be held), `write_now` the direct one (it can refuse)."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, str]] = []  # (how, frame)
        self.sent = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.accept_direct = True

    async def send(self, frame: str) -> None:
        await self.release.wait()
        self.frames.append(("queued", frame))
        self.sent.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass

    def write_now(self, frame: str) -> bool:
        if self.accept_direct:
            self.frames.append(("direct", frame))
            self.sent.set()
        return self.accept_direct

    async def until_frames(self, count: int) -> None:
        async with asyncio.timeout(2):
            while len(self.frames) < count:
                self.sent.clear()
                await self.sent.wait()


async def started(outbox: Outbox) -> asyncio.Task[None]:
    writer = asyncio.create_task(outbox.run())
    await asyncio.sleep(0)  # one step: the writer reaches its wait for frames
    assert outbox.idle
    return writer


async def test_a_frame_put_while_the_writer_idles_goes_out_at_once() -> None:
    socket = Socket()
    outbox = Outbox(socket, coalesce_at=5, limit=10, write_now=socket.write_now)
    writer = await started(outbox)
    outbox.put("a")
    outbox.put_event(ev(uuid.uuid4(), 0))
    assert [how for how, _ in socket.frames] == ["direct", "direct"]  # no await in between
    assert len(outbox) == 0
    writer.cancel()


async def test_once_a_frame_is_queued_the_next_ones_queue_behind_it() -> None:
    socket = Socket()
    outbox = Outbox(socket, coalesce_at=5, limit=10, write_now=socket.write_now)
    writer = await started(outbox)
    socket.accept_direct = False  # the socket buffer is full
    outbox.put("1")
    socket.accept_direct = True  # it drained, but "1" still waits: "2" must not overtake it
    outbox.put("2")
    await socket.until_frames(2)
    assert socket.frames == [("queued", "1"), ("queued", "2")]
    outbox.put("3")  # all sent, the writer idles again
    assert socket.frames[-1] == ("direct", "3")
    writer.cancel()


async def test_no_frame_is_written_directly_while_a_send_is_in_progress() -> None:
    socket = Socket()
    outbox = Outbox(socket, coalesce_at=5, limit=10, write_now=socket.write_now)
    writer = await started(outbox)
    socket.accept_direct = False
    socket.release.clear()  # the next send blocks (a socket waiting to drain)
    outbox.put("1")
    await asyncio.sleep(0)  # one step: the writer pops "1" and blocks in send
    assert not outbox.idle
    assert len(outbox) == 0
    socket.accept_direct = True
    outbox.put("2")
    socket.release.set()
    await socket.until_frames(2)
    assert socket.frames == [("queued", "1"), ("queued", "2")]
    writer.cancel()


class Store:
    async def job(self, job_id: uuid.UUID) -> JobState | None:
        return JobState("acme", -1, {"status": "queued", "slices_done": 0})

    async def events(
        self, job_id: uuid.UUID, tenant: str, after_seq: int, before_seq: int | None = None
    ) -> list[JobEvent]:
        return []


async def test_a_following_subscription_relays_in_order_events_without_a_task_switch() -> None:
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    socket = Socket()
    outbox = Outbox(socket, coalesce_at=50, limit=100, write_now=socket.write_now)
    writer = await started(outbox)
    job = uuid.uuid4()
    store = Store()
    sub = Subscription(
        job,
        "acme",
        None,
        hub=hub,
        store=store,  # type: ignore[arg-type]  # duck-typed store
        catch_up=None,  # type: ignore[arg-type]  # never lags here
        outbox=outbox,
        max_queue=100,
        timing=Timing(),
        end_after_projection=False,  # no projection here: the relay alone
    )
    task = asyncio.create_task(sub.run())
    await socket.until_frames(1)  # the snapshot: it follows the job now
    for _ in range(3):
        await asyncio.sleep(0)  # a few steps: it reaches its wait for the next item
    hub.publish(ev(job, 0))
    hub.publish(ev(job, 1))
    assert [orjson.loads(f)["seq"] for _, f in socket.frames[1:]] == [0, 1]  # at once
    hub.publish(ev(job, 3))  # out of order: held back by the task, not sent
    hub.publish(ev(job, 2))
    hub.publish(ev(job, 4, terminal=True))  # the end always goes through the task
    await asyncio.wait_for(task, 2)
    seqs = [orjson.loads(f)["seq"] for _, f in socket.frames[1:]]
    assert seqs == [0, 1, 2, 3, 4]
    writer.cancel()
