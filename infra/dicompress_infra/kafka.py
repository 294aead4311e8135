"""aiokafka plumbing: producers that wait for the broker, topic creation, dead-lettering."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dicompress_schemas import EventBase, IngestEventBase, encode_event, event_key, ingest_event_key
from dicompress_schemas.commands import Command, encode_command
from dicompress_schemas.tasks import SliceRangeRequested, encode_task

log = logging.getLogger(__name__)


def make_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica: no event is lost or doubled
    by a retry."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15000,
    )


async def publish(
    producer: AIOKafkaProducer, topic: str, event: EventBase | IngestEventBase
) -> None:
    """Send one event keyed by its job (or its ingest) and wait for the broker's
    acknowledgement."""
    await producer.send_and_wait(topic, encode_event(event), key=_key(event), headers=_type(event))


async def enqueue(
    producer: AIOKafkaProducer, topic: str, event: EventBase | IngestEventBase
) -> asyncio.Future[Any]:
    """Hand one event to the producer and return the future of its acknowledgement, so a
    producer of many events waits once for all of them (the idempotent producer keeps their
    order within the partition)."""
    delivery: asyncio.Future[Any] = await producer.send(
        topic, encode_event(event), key=_key(event), headers=_type(event)
    )
    return delivery


def _key(event: EventBase | IngestEventBase) -> bytes:
    return event_key(event) if isinstance(event, EventBase) else ingest_event_key(event)


def _type(event: EventBase | IngestEventBase) -> list[tuple[str, bytes]]:
    return [("type", event.__class__.__name__.encode())]


async def publish_task(
    producer: AIOKafkaProducer, topic: str, task: SliceRangeRequested, ordinal: int
) -> None:
    """Send the `ordinal`-th range of a job and wait for the broker's acknowledgement. The
    ranges of a job go to consecutive partitions (from one its id picks), not where their keys
    hash: the group's round-robin assignment then deals them out evenly over the workers, where
    hashing had given one of two workers 271 of 399 slices."""
    partitions = sorted(await producer.partitions_for(topic))
    partition = partitions[(task.job_id.int + ordinal) % len(partitions)]
    await producer.send_and_wait(
        topic,
        encode_task(task),
        key=str(task.task_id).encode(),
        partition=partition,
        headers=[("type", b"SliceRangeRequested")],
    )


async def publish_command(producer: AIOKafkaProducer, topic: str, command: Command) -> None:
    """Send one command keyed by its job and wait for the broker's acknowledgement (the API
    and the notifier send the same bytes, so consumers cannot tell who sent it)."""
    await producer.send_and_wait(
        topic,
        encode_command(command),
        key=str(command.job_id).encode(),
        headers=[("type", command.type.encode())],
    )
    log.info(
        "command published",
        extra={
            "job_id": str(command.job_id),
            "tenant": command.tenant,
            "type": command.type,
            "command_id": str(command.command_id),
            "topic": topic,
        },
    )


async def dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    reason: str,
    origin: str,
) -> None:
    """Park an undecodable or unprocessable message, with why and where it came from."""
    await producer.send_and_wait(
        topic,
        value,
        key=key,
        headers=[("reason", reason.encode()[:4000]), ("origin", origin.encode())],
    )
    log.warning("dead-lettered message", extra={"reason": reason, "origin": origin})


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[tuple[str, int]], retention_ms: int = -1
) -> None:
    """Create the topics that do not exist yet. Retention -1 keeps the audit trail forever."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs={"retention.ms": str(retention_ms)},
            )
            for name, partitions in topics
            if name not in existing
        ]
        if new:
            # another process may create them between our list and create
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()
