"""What the notifier's integration tests share: a job's events, publishing them to Kafka,
projecting them into Postgres with the real progress store (which NOTIFYs, as in production),
and reading frames off a websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection, connect

from dicompress_infra.auth import issue_token
from dicompress_infra.kafka import publish
from dicompress_notifier.settings import NotifierSettings
from dicompress_progress.store import Delivered, record_batch
from dicompress_schemas import CompressionRequested, Event, EventBase, encode_event, event_key
from dicompress_schemas.histories import JobHistory
from metrics_scrape import scrape

# `async with start_notifier(**settings) as notifier` (the fixture in conftest.py)
StartNotifier = Callable[..., contextlib.AbstractAsyncContextManager["Notifier"]]

SLICES = 5  # events: seq 0 (requested), 1 (started), 2..6 (slices), 7 (completed)
LAST_SEQ = SLICES + 2


def job_events(
    job_id: uuid.UUID, tenant: str, slices: int = SLICES, *, complete: bool = True
) -> list[EventBase]:
    """A whole job: requested, started, `slices` SliceEncoded, then (if `complete`) done.

    It happens now: the notifier keeps a finished job in memory for a window after its end.
    """
    h = JobHistory(job_id, tenant, start=datetime.now(UTC), total=slices)
    h.requested(100)
    h.started()
    for i in range(slices):
        h.encoded(i, bytes_in=1000, bytes_out=50, ratio=100.0, encode_ms=40.0)
    if complete:  # 2+slices, with the slices' sums: 1000 and 50 bytes, 40 ms each
        h.completed(
            ratio=100.0,
            artifact_uri=f"s3://bucket-out/zips/{job_id}.zip",
            artifact_bytes=slices * 50,
        )
    return [*h.events]


@dataclass
class Notifier:
    """A running notifier and the means to feed it: Kafka (live) and Postgres (projection)."""

    settings: NotifierSettings
    producer: AIOKafkaProducer
    db: asyncpg.Connection
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def token(self, tenant: str) -> str:
        secret = self.settings.jwt_secret.get_secret_value()
        return issue_token(secret, tenant, self.settings.jwt_audience)

    def connect(self, tenant: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(tenant)}"}
        return connect(self.url, additional_headers=headers, **kwargs)

    async def publish(self, events: list[EventBase]) -> None:
        topics = self.settings.topics
        for event in events:
            topic = topics.requests if isinstance(event, CompressionRequested) else topics.events
            await publish(self.producer, topic, event)

    async def publish_many(self, events: list[EventBase]) -> None:
        """Publish without waiting for each ack in turn (hundreds of events in a blink)."""
        topics = self.settings.topics
        sent = [
            await self.producer.send(
                topics.requests if isinstance(e, CompressionRequested) else topics.events,
                encode_event(e),
                key=event_key(e),
            )
            for e in events
        ]
        await asyncio.gather(*sent)

    async def metrics(self) -> dict[str, float]:
        samples: dict[str, float] = await scrape(f"http://127.0.0.1:{self.port}/metrics")
        return samples

    async def project(self, events: list[EventBase]) -> None:
        """Apply the events as the progress worker does: rows, then NOTIFY on commit."""
        async with self.db.transaction():
            batch = [Delivered(cast(Event, e)) for e in events]
            await record_batch(self.db, batch, "job_progress")


async def until_healthy(port: int, task: asyncio.Future[Any] | None = None) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while True:
            if task is not None and task.done():
                task.result()  # raises why the notifier stopped
                raise AssertionError("notifier stopped before it was healthy")
            with contextlib.suppress(httpx.TransportError):
                answer = await http.get(f"http://127.0.0.1:{port}/healthz")
                if answer.status_code == 200:
                    return
            await asyncio.sleep(0.05)


async def frames_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], within_s: float = 15
) -> list[dict[str, Any]]:
    """Frames received until (and with) the first one `done` accepts."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(within_s):
        while not got or not done(got[-1]):
            got.append(orjson.loads(await ws.recv()))
    return got


def is_end(frame: dict[str, Any]) -> bool:
    return bool(frame["op"] == "event" and frame["event"]["type"] == "JobCompleted")


def is_error(frame: dict[str, Any]) -> bool:
    return bool(frame["op"] == "error")


def is_op(op: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: bool(frame["op"] == op)


async def send(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(orjson.dumps(frame).decode())


async def subscribe(ws: ClientConnection, job_id: uuid.UUID, **extra: Any) -> None:
    await send(ws, op="subscribe", job_id=str(job_id), **extra)
    assert orjson.loads(await ws.recv()) == {"op": "subscribed", "job_id": str(job_id)}


async def next_frame(ws: ClientConnection, within_s: float = 10) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), within_s))
    return frame


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    """The seqs of the event frames; `figures` frames (which follow the events they reflect)
    aside, every frame must be an event."""
    frames = [f for f in frames if f["op"] != "figures"]
    assert all(f["op"] == "event" for f in frames), frames
    assert all(f["seq"] == f["event"]["seq"] for f in frames)
    return [f["seq"] for f in frames]


async def frames_before_marker(
    notifier: Notifier, ws: ClientConnection, tenant: str, *, projected: bool = False
) -> list[dict[str, Any]]:
    """The frames `ws` receives, for what it already watches, before a marker job of `tenant`
    arrives whole: subscribed after everything the test did, then fed on Kafka, or (with
    `projected`) only through the projection, Postgres's notification and a catch-up read, the
    way a job's owner is learnt late. A positive signal, where a quiet window of a fixed length
    can pass falsely on a slow machine (the frame it should catch comes after it)."""
    marker = uuid.uuid4()
    await send(ws, op="subscribe", job_id=str(marker), since_seq=-1)
    events = job_events(marker, tenant)
    await (notifier.project(events) if projected else notifier.publish(events))

    def marker_end(frame: dict[str, Any]) -> bool:
        return is_end(frame) and frame["job_id"] == str(marker)

    frames = await frames_until(ws, marker_end)
    mine = [f for f in frames if f.get("job_id") == str(marker)]
    assert mine[0] == {"op": "subscribed", "job_id": str(marker)}
    assert seqs(mine[1:]) == list(range(LAST_SEQ + 1))
    return [f for f in frames if f.get("job_id") != str(marker)]


async def assert_nothing_more(notifier: Notifier, ws: ClientConnection, tenant: str) -> None:
    """Nothing more comes on `ws` for what it already watches (see `frames_before_marker`)."""
    strays = await frames_before_marker(notifier, ws, tenant)
    assert strays == [], f"frames before the marker job's end: {strays}"
