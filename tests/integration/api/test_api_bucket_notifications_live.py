"""The bucket-notification trigger on the real broker: S3 event records published to a topic
(as Ceph RGW publishes them) become ArchiveUploaded on the ingest requests topic, one per
object created under `{tenant}/incoming/`, the same ingest for a redelivered record."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from api_live import end_offsets, serve, wait_until_ready

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.kafka import ensure_topics
from dicompress_schemas import ArchiveUploaded, decode_ingest_event

pytestmark = pytest.mark.integration


def notification(bucket: str, key: str, event: str = "ObjectCreated:Put", etag: str = "") -> bytes:
    record = {
        "eventVersion": "2.2",
        "eventSource": "ceph:s3",
        "eventName": event,
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 4096, "eTag": etag or "ab" * 16, "sequencer": "01"},
        },
    }
    return orjson.dumps({"Records": [record]})


async def archive_events(bootstrap: str, topic: str, count: int) -> list[ArchiveUploaded]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ArchiveUploaded] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        event = decode_ingest_event(record.value)
                        assert isinstance(event, ArchiveUploaded)
                        assert record.key == str(event.ingest_id).encode()
                        found.append(event)
    finally:
        await consumer.stop()
    return found


async def test_objects_put_into_incoming_are_ingested_once_each(
    settings_for: Callable[..., ApiSettings],
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
) -> None:
    bucket = test_env["S3_BUCKET"]
    topic = f"{test_env['TOPIC_PREFIX']}s3.notifications"
    settings = settings_for(
        ApiSettings,
        api_allowed_buckets=[bucket],
        api_bucket_notification_topic=topic,
        api_bucket_notification_group=f"g-{uuid.uuid4()}",
    )
    bootstrap = settings.kafka_bootstrap_servers
    await ensure_topics(bootstrap, [(topic, 2)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for message in (
            notification(bucket, "acme/incoming/CT+head.zip"),
            notification(bucket, "acme/incoming/CT+head.zip"),  # redelivered
            notification(bucket, "acme/incoming/CT+head.zip", event="ObjectRemoved:Delete"),
            notification(bucket, "acme/results/out.zip"),
            notification("another-bucket", "acme/incoming/x.zip"),
            b"this is no event record",
            notification(bucket, "globex/incoming/IM0001", etag="cd" * 16),  # the last one
        ):
            await producer.send_and_wait(topic, message, partition=0)
    finally:
        await producer.stop()

    async for api in serve(create_app(settings)):
        await wait_until_ready(api)
        events = await archive_events(bootstrap, settings.topics.ingest_requests, 3)

    # ingest.requests has several partitions keyed by ingest id: the two records of one object
    # keep their order, but the other object's event may be read before or after them
    acme = [e for e in events if e.tenant == "acme"]
    globex = [e for e in events if e.tenant == "globex"]
    assert (len(acme), len(globex)) == (2, 1)
    (first, redelivered), (last,) = acme, globex
    assert (first.tenant, first.key, first.file_name) == (
        "acme",
        "acme/incoming/CT head.zip",
        "CT head.zip",
    )
    assert (first.channel, first.content_type, first.size) == (
        "bucket-notification",
        "application/zip",
        4096,
    )
    assert (redelivered.ingest_id, redelivered.event_id) == (first.ingest_id, first.event_id)
    assert (last.tenant, last.content_type) == ("globex", "application/dicom")
    assert last.ingest_id != first.ingest_id
    # the records in between gave nothing: the last valid one came right after the first two
    assert await end_offsets(bootstrap, settings.topics.ingest_requests) == 3
