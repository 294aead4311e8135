"""`NotifierMetrics`: frames written, slow clients closed, hub figures read at scrape time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.model import Change, JobEvent
from dicompress_notifier.outbox import TRY_AGAIN_LATER, Outbox
from dicompress_notifier.telemetry import NotifierMetrics

AT = datetime(2025, 1, 1, tzinfo=UTC)


class Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closes = 0
        self.three_sent = asyncio.Event()

    async def send(self, frame: str) -> None:
        self.sent.append(frame)
        if len(self.sent) == 3:
            self.three_sent.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closes += 1


class Listener:
    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        self.got: list[JobEvent] = []

    def push(self, event: JobEvent) -> None:
        self.got.append(event)

    def poke(self, change: Change) -> None:
        pass  # the metrics count subscriptions, not what they hear

    def projected(self, change: Change) -> None:
        pass


async def test_frames_and_slow_client_closes_are_counted_once() -> None:
    registry = CollectorRegistry()
    metrics = NotifierMetrics(registry)
    socket = Socket()
    outbox = Outbox(socket, metrics=metrics)
    writer = asyncio.create_task(outbox.run())
    try:
        for frame in ("a", "b", "c"):
            outbox.put(frame)
        # the writer counts right after `send` and only yields at the next `get`, before we wake
        await asyncio.wait_for(socket.three_sent.wait(), 10)
        outbox.abort(TRY_AGAIN_LATER, "too slow")
        outbox.abort(TRY_AGAIN_LATER, "too slow, again")  # the connection closes once
    finally:
        writer.cancel()
    assert registry.get_sample_value("dicompress_notifier_frames_sent_total") == 3
    assert registry.get_sample_value("dicompress_notifier_slow_client_disconnects_total") == 1

    other = Outbox(socket, metrics=metrics)
    other.abort(1011, "internal error")  # not a slow client
    assert registry.get_sample_value("dicompress_notifier_slow_client_disconnects_total") == 1


def test_subscriptions_and_relayed_events_are_read_off_the_hub() -> None:
    registry = CollectorRegistry()
    hub = Hub(JobHistory(window_s=900, max_jobs=100), clock=lambda: AT)
    NotifierMetrics(registry).watch(hub)
    job = uuid.uuid4()
    listener = Listener(job)
    hub.join(listener, since_seq=-1)
    hub.publish(JobEvent(job, 0, "acme", "X", False, AT, b"{}"))
    hub.publish(JobEvent(uuid.uuid4(), 0, "acme", "X", False, AT, b"{}"))
    assert registry.get_sample_value("dicompress_notifier_subscriptions") == 1
    assert registry.get_sample_value("dicompress_notifier_events_relayed_total") == 2
    hub.leave(listener)
    assert registry.get_sample_value("dicompress_notifier_subscriptions") == 0
