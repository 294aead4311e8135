"""The products process manager as a process, on real Kafka, Postgres and S3, behind the real
ingest and progress services: a received study's CT volumes get the policy's products asked for
on the topic of whoever makes them; the same study uploaded again asks for nothing new; a
tenant's own policy is followed."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import Mapping

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dicompress_infra.kafka import make_producer, publish
from dicompress_schemas import (
    IngestCompleted,
    ProductRequested,
    Topics,
    UploadChannel,
    decode_event,
    decode_ingest_event,
)
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import IngestHistory
from dicompress_schemas.products import ProductKind
from dicompress_schemas.topics import INTERACTIVE, PARTITIONS, RENDER_REQUESTS
from dicompress_stack.synthetic_study import StudySpec, write_study_zip
from dicompress_stack.testing import ServiceRunner, s3_client

pytestmark = pytest.mark.integration

TIMEOUT_S = 90.0
SPEC = StudySpec(seed=3, slices=6, size=32, scout_size=32, dose_report=False)


async def upload(env: Mapping[str, str], tenant: str, data: bytes) -> uuid.UUID:
    """Put the archive under the tenant's uploads and announce it, as the API does."""
    ingest_id = uuid.uuid4()
    key = f"{tenant}/uploads/{ingest_id}/study.zip"
    s3_client(env).put_object(Bucket=env["S3_BUCKET"], Key=key, Body=data)
    producer = make_producer(env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        await publish(
            producer,
            Topics(env["TOPIC_PREFIX"]).ingest_requests,
            IngestHistory(tenant, ingest_id, bucket=env["S3_BUCKET"]).uploaded(
                bare=True,
                at=utc_now(),
                key=key,
                size=len(data),
                file_name="study.zip",
                channel=UploadChannel.STREAMED,
            ),
        )
    finally:
        await producer.stop()
    return ingest_id


async def completed_at(env: Mapping[str, str], ingest_id: uuid.UUID) -> tuple[TopicPartition, int]:
    """The partition of the ingest's IngestCompleted and the offset right after it."""
    topic = Topics(env["TOPIC_PREFIX"]).ingest_events
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], auto_offset_reset="earliest"
    )
    await consumer.start()
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    event = decode_ingest_event(message.value or b"")
                    if isinstance(event, IngestCompleted) and event.ingest_id == ingest_id:
                        return TopicPartition(message.topic, message.partition), message.offset + 1
    finally:
        await consumer.stop()
    raise AssertionError(f"ingest {ingest_id} did not complete in {TIMEOUT_S} s")


async def wait_handled(env: Mapping[str, str], ingest_id: uuid.UUID) -> None:
    """Until the process manager's group has committed past the ingest's IngestCompleted: a
    positive signal that it is done with it (whatever it published is on the topics by then)."""
    where, after = await completed_at(env, ingest_id)
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            offsets = await admin.list_consumer_group_offsets("dicompress-products")
            committed = offsets.get(where)
            if committed is not None and committed.offset >= after:
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    raise AssertionError(f"the process manager did not commit past ingest {ingest_id}")


async def requested(env: Mapping[str, str]) -> list[tuple[str, ProductRequested]]:
    """Every ProductRequested on the compressor's and the renderer's topics, with its topic."""
    topics = Topics(env["TOPIC_PREFIX"])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[str, ProductRequested]] = []
    try:
        partitions = [
            TopicPartition(topics.prefix + name, p)
            for name in (INTERACTIVE, RENDER_REQUESTS)
            for p in range(PARTITIONS[name])
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    event = decode_event(message.value or b"")
                    if isinstance(event, ProductRequested):
                        found.append((message.topic, event))
    finally:
        await consumer.stop()
    return found


async def test_a_received_study_gets_its_products_asked_for_once_and_as_the_policy_says(
    test_env: dict[str, str], service_runner: ServiceRunner
) -> None:
    bucket = json.dumps([test_env["S3_BUCKET"]])
    service_runner.start("progress")
    service_runner.start("ingest", {"INGEST_ALLOWED_BUCKETS": bucket})
    service_runner.start("products", {"PRODUCTS_TENANT_POLICIES": '{"lab": ["preview"]}'})
    archive = io.BytesIO()
    manifest = write_study_zip(SPEC, archive)
    volumes = {s.series_uid for s in manifest.series if s.role == "ct-slice"}
    topics = Topics(test_env["TOPIC_PREFIX"])

    first = await upload(test_env, "acme", archive.getvalue())
    await wait_handled(test_env, first)
    asked = [(topic, e) for topic, e in await requested(test_env) if e.ingest_id == first]
    assert sorted((e.series_instance_uid, e.kind, topic) for topic, e in asked) == sorted(
        (
            series,
            kind,
            topics.interactive if kind is ProductKind.PREVIEW else topics.render_requests,
        )
        for series in volumes
        for kind in ProductKind
        if kind is not ProductKind.MINI_CT
    )
    assert {e.trigger for _, e in asked} == {"upload"}
    assert all(
        e.target_uri.startswith(f"s3://{test_env['S3_BUCKET']}/acme/products/") for _, e in asked
    )

    again = await upload(test_env, "acme", archive.getvalue())  # the same instances once more
    await wait_handled(test_env, again)
    everything = await requested(test_env)
    assert [e for _, e in everything if e.ingest_id == again] == []
    assert len(everything) == len(asked)

    lab = await upload(test_env, "lab", archive.getvalue())
    await wait_handled(test_env, lab)
    for_lab = [e for _, e in await requested(test_env) if e.tenant == "lab"]
    assert sorted((e.series_instance_uid, e.kind) for e in for_lab) == sorted(
        (series, ProductKind.PREVIEW) for series in volumes
    )
    assert {e.job_id for e in for_lab}.isdisjoint({e.job_id for _, e in asked})
