"""The SSE body sends the projection's figures as they came, after the events they reflect,
without an `id` (they are not events of the log: Last-Event-ID must not move)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from dicompress_api.jobs.changes import Watched
from dicompress_api.jobs.stream import EventStream
from dicompress_schemas.changefeed import Change

JOB = uuid.UUID("00000000-0000-4000-8000-00000000000f")
FIGURES = {"slices_per_second": 12.5, "eta_at": "2026-12-06T06:00:00+00:00", "ratio": 9.5}


class Log:
    """The job's recorded events, as `JobEventLog` reads them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, seq: int, kind: str) -> None:
        self.rows.append({"seq": seq, "type": kind, "payload": orjson.dumps({"seq": seq})})

    async def from_seq(self, job_id: uuid.UUID, seq: int) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["seq"] >= seq]

    async def terminal(self, job_id: uuid.UUID) -> tuple[int, str] | None:
        return None


class Listener:
    connected = True

    def __init__(self) -> None:
        self.watched = Watched()

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[Watched]:
        yield self.watched


async def _next(body: AsyncIterator[bytes]) -> str:
    return (await asyncio.wait_for(anext(body), 5)).decode()


async def test_figures_follow_the_events_they_reflect_and_carry_no_id() -> None:
    log, listener = Log(), Listener()
    stream = EventStream(log, listener, heartbeat_s=30, retry_ms=3000, gap_grace_s=1)  # type: ignore[arg-type]
    log.record(0, "CompressionRequested")
    body = stream.body(JOB, -1)
    assert await _next(body) == "retry: 3000\n\n"
    assert (await _next(body)).startswith("id: 0\nevent: CompressionRequested\n")
    # figures for seq 1 while the client has only seq 0: they wait for event 1
    listener.watched.notified(Change(JOB, "acme", 1, FIGURES))
    log.record(1, "JobStarted")
    assert (await _next(body)).startswith("id: 1\nevent: JobStarted\n")
    message = await _next(body)
    assert message.startswith("event: figures\ndata: ")
    assert "id:" not in message
    data = orjson.loads(message.split("data: ", 1)[1])
    assert data == {"job_id": str(JOB), "seq": 1, "figures": FIGURES}
    # an older set than the one sent changes nothing; the end closes the stream
    listener.watched.notified(Change(JOB, "acme", 0, {**FIGURES, "ratio": 1.0}))
    log.record(2, "JobCompleted")
    listener.watched.notified(Change(JOB, "acme", 2, None))
    assert (await _next(body)).startswith("id: 2\nevent: JobCompleted\n")
    assert (await _next(body)).startswith("event: end\n")
