"""The session's backends do what the services need: an idempotent producer and a committing
consumer group on Kafka, SQL over TCP on Postgres, put/get on S3; and `test_env` isolates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dicompress_infra.kafka import make_producer
from dicompress_infra.s3 import make_s3_client
from dicompress_infra.settings import CommonSettings
from dicompress_stack.testing import TestBackends, provision_test_env

pytestmark = pytest.mark.integration


async def test_kafka_takes_an_idempotent_produce_and_a_group_commit(
    settings_for: Callable[..., Any],
) -> None:
    settings: CommonSettings = settings_for(CommonSettings)
    topic = settings.topics.events
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"hello", key=b"job-1")
    finally:
        await producer.stop()

    group = f"g-{uuid.uuid4().hex}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
        partition = TopicPartition(topic, sent.partition)
        committed = await consumer.committed(partition)
    finally:
        await consumer.stop()
    assert (record.value, record.key, record.offset) == (b"hello", b"job-1", sent.offset)
    assert committed == sent.offset + 1


async def test_test_env_creates_its_topics_with_their_partitions(
    settings_for: Callable[..., Any],
) -> None:
    settings: CommonSettings = settings_for(CommonSettings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(settings.topics.all()))
    finally:
        await admin.close()
    partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
    topics = settings.topics
    assert partitions == {
        topics.requests: 4,
        topics.interactive: 4,
        topics.tasks: 16,
        topics.interactive_tasks: 16,
        topics.events: 4,
        topics.control: 1,
        topics.dead_letter: 1,
        topics.ingest_requests: 4,
        topics.ingest_events: 4,
        topics.render_requests: 4,
    }
    assert topics.prefix.startswith("t")
    assert topics.prefix.endswith(".")


async def test_postgres_answers_over_tcp_in_a_fresh_database(test_env: dict[str, str]) -> None:
    conn = await asyncpg.connect(test_env["DATABASE_URL"], timeout=10)
    try:
        database = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert database.startswith("t_")
    assert test_env["DATABASE_URL"].endswith("/" + database)
    assert tables == 0


def test_s3_put_then_get(settings_for: Callable[..., Any], test_env: dict[str, str]) -> None:
    s3 = make_s3_client(settings_for(CommonSettings))
    bucket = test_env["S3_BUCKET"]
    s3.put_object(Bucket=bucket, Key="a/b.bin", Body=b"\x00\x01payload")
    body = s3.get_object(Bucket=bucket, Key="a/b.bin")["Body"].read()
    assert body == b"\x00\x01payload"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b.bin"]


def test_each_test_env_is_its_own(backends: TestBackends, test_env: dict[str, str]) -> None:
    other = provision_test_env(backends)
    for name in ("TOPIC_PREFIX", "DATABASE_URL", "S3_BUCKET", "JWT_SECRET"):
        assert other[name] != test_env[name]
    assert other["KAFKA_BOOTSTRAP_SERVERS"] == test_env["KAFKA_BOOTSTRAP_SERVERS"]
    assert backends.kind in ("embedded", "docker")
