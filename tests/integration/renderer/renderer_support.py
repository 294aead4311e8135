"""What the renderer's integration tests share: an in-process renderer on the test's topics
and bucket, a stored series, requests published, and a reader of a job's events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiokafka import AIOKafkaConsumer

import polling
from dicompress_infra.kafka import make_producer, publish
from dicompress_infra.s3 import make_s3_client
from dicompress_renderer.service import serve
from dicompress_renderer.settings import RendererSettings
from dicompress_schemas import Event, ProductRequested, TerminalEvent, decode_event
from dicompress_stack.synthetic_ct import slice_bytes

TIMEOUT_S = 90.0
TENANT = "acme"


@asynccontextmanager
async def running(settings: RendererSettings) -> AsyncIterator[RendererSettings]:
    """The renderer serving in this process until the block ends (then stopped as by SIGTERM)."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    url = f"http://127.0.0.1:{settings.renderer_health_port}/healthz"

    async def healthy() -> bool:
        if task.done():
            task.result()  # raise what killed it
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url, timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await polling.eventually(healthy, "the renderer's /healthz", TIMEOUT_S)
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_S)


def store_series(settings: RendererSettings, bucket: str, prefix: str, slices: int) -> int:
    """A synthetic CT series of `slices` 96x96 images under `prefix`; returns its bytes."""
    client = make_s3_client(settings)
    total = 0
    for index in range(slices):
        data = slice_bytes(index, n_slices=slices, size=96)
        client.put_object(Bucket=bucket, Key=f"{prefix}{uuid.uuid4().hex}.dcm", Body=data)
        total += len(data)
    return total


async def send(settings: RendererSettings, request: ProductRequested) -> None:
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await publish(producer, settings.topics.render_requests, request)
    finally:
        await producer.stop()


async def job_events(
    settings: RendererSettings, job_id: uuid.UUID, terminals: int = 1
) -> list[Event]:
    """The job's events on the events topic, in log order, until `terminals` terminal events."""
    consumer = AIOKafkaConsumer(
        settings.topics.events,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[Event] = []
    try:

        async def seen_enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(
                    e for e in (decode_event(r.value) for r in records) if e.job_id == job_id
                )
            return sum(isinstance(e, TerminalEvent) for e in found) >= terminals

        await polling.eventually(seen_enough, f"the events of job {job_id}", TIMEOUT_S)
        return found
    finally:
        await consumer.stop()
