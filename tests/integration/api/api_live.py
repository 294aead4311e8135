"""Helpers of the API's integration tests: serve the app in-process, sign tokens, read topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from dicompress_schemas import decode_event


async def wait_until_ready(client: httpx.AsyncClient, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110 - polling an HTTP probe
            await asyncio.sleep(0.1)


async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client,
    ):
        yield client


def bearer(settings: ApiSettings, tenant: str) -> dict[str, str]:
    token = issue_token(settings.jwt_secret.get_secret_value(), tenant, settings.jwt_audience)
    return {"Authorization": f"Bearer {token}"}


async def read_request(
    bootstrap: str, topic: str, job_id: uuid.UUID, decode: Callable[[bytes], Any] = decode_event
) -> tuple[Any, Any]:
    """The record of `job_id` on `topic` (consumed back from the broker), and its decoding."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for record in (r for records in batches.values() for r in records):
                    if record.key == str(job_id).encode():
                        return record, decode(record.value)
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> int:
    """How many records the topic holds, summed over its partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            partitions = [TopicPartition(topic, p) for p in await _partitions(consumer, topic)]
        assert partitions, f"topic {topic} has no partitions"
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    consumer.subscribe([topic])
    async with asyncio.timeout(10):
        while not consumer.partitions_for_topic(topic):  # noqa: ASYNC110 - metadata arrives in the background
            await asyncio.sleep(0.05)
    partitions: set[int] = consumer.partitions_for_topic(topic)
    consumer.unsubscribe()
    return partitions
