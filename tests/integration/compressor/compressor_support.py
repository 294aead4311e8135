"""What the compressor's integration tests share: settings, an in-process compressor, requests,
and a reader of a job's events on the real events topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

import polling
from dicompress_compressor.service import serve
from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import (
    CompressionRequested,
    Event,
    JobCompleted,
    TerminalEvent,
    decode_event,
    new_event_id,
)
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import JobHistory

TIMEOUT_S = 60.0


async def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll `check` until it returns something truthy; fail after TIMEOUT_S."""
    return await polling.eventually(check, what, TIMEOUT_S)


@asynccontextmanager
async def running(settings: CompressorSettings) -> AsyncIterator[CompressorSettings]:
    """The compressor serving in this process until the block ends (then stopped as by SIGTERM:
    a job still running is abandoned, not committed)."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    url = f"http://127.0.0.1:{settings.compressor_health_port}/healthz"

    async def healthy() -> bool:
        if task.done():
            task.result()  # raise what killed it
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url, timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(healthy, "the compressor's /healthz")
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_S)


def request_for(bucket: str, source: str, **overrides: Any) -> CompressionRequested:
    """A request as the API publishes it (now, none of the golden example's options)."""
    fields = {
        "source_uri": f"s3://{bucket}/{source}",
        "target_uri": f"s3://{bucket}/out/",
        "compression_rate": 50.0,
    }
    return JobHistory(tenant="acme").requested(at=utc_now(), bare=True, **(fields | overrides))


def _finished(events: list[Event]) -> bool:
    return any(isinstance(e, TerminalEvent) for e in events)


async def job_events(
    settings: CompressorSettings,
    job_id: uuid.UUID,
    until: Callable[[list[Event]], bool] = _finished,
) -> list[Event]:
    """The job's events on the events topic, in log order, read until `until(events)` (by
    default: until its terminal event)."""
    consumer = AIOKafkaConsumer(  # no group: every partition, from the beginning
        settings.topics.events,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        found: list[Event] = []

        async def seen_enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(
                    event
                    for event in (decode_event(r.value) for r in records)
                    if event.job_id == job_id
                )
            return until(found)

        await eventually(seen_enough, f"the events of job {job_id}")
        return found
    finally:
        await consumer.stop()


def completed_once(events: list[Event], job_id: uuid.UUID, slices: int) -> JobCompleted:
    """The history of a job of `slices` slices that ended well, however many runs it took:
    every seq from 1 to its end, each with the id its seq derives, and one terminal event,
    last, a JobCompleted. That event."""
    assert {e.seq for e in events} == set(range(1, slices + 3))  # every seq, no gap
    assert all(e.event_id == new_event_id(job_id, e.seq) for e in events)
    assert [type(e) for e in events if isinstance(e, TerminalEvent)] == [JobCompleted]
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    return completed


def put(settings: CompressorSettings, bucket: str, key: str, body: bytes, **extra: Any) -> None:
    make_s3_client(settings).put_object(Bucket=bucket, Key=key, Body=body, **extra)
