"""The composition root: build the adapters from settings, wire them, run until told to stop."""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import AsyncExitStack

from aiokafka import AIOKafkaConsumer

from dicompress_infra.health import serve_health
from dicompress_infra.kafka import enqueue, make_producer
from dicompress_infra.metrics import new_registry
from dicompress_infra.requests import JoinTracker
from dicompress_infra.running import run_until_signalled
from dicompress_infra.s3 import make_s3_client
from dicompress_ingest.members import Caps
from dicompress_ingest.runner import IngestRunner
from dicompress_ingest.settings import IngestSettings
from dicompress_ingest.worker import uploads

log = logging.getLogger(__name__)

# A 2 GB archive on a busy machine takes minutes; past this the group gives the upload away.
MAX_POLL_INTERVAL_MS = 30 * 60 * 1000


async def run(settings: IngestSettings) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    await run_until_signalled(functools.partial(serve, settings))


async def serve(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Consume uploads until `stop` is set. Tests call this directly with their own settings."""
    topics = settings.topics
    tracker = JoinTracker()
    async with AsyncExitStack() as stack:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.ingest_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        )
        health = await serve_health(
            settings.ingest_health_port,
            lambda: tracker.joined and not stop.is_set(),
            host=settings.ingest_health_host,
            registry=new_registry(),
        )
        stack.push_async_callback(health.wait_closed)
        stack.callback(health.close)
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        stack.push_async_callback(producer.stop)
        consumer.subscribe([topics.ingest_requests], listener=tracker)
        await consumer.start()
        stack.push_async_callback(consumer.stop)  # leaves the group: a quick rebalance
        runner = IngestRunner(
            client=make_s3_client(settings),
            settings=settings,
            send=functools.partial(enqueue, producer, topics.ingest_events),
            caps=Caps(
                max_members=settings.ingest_max_members,
                max_total_bytes=settings.ingest_max_total_bytes,
                max_member_bytes=settings.ingest_max_member_bytes,
                max_ratio=settings.ingest_max_ratio,
            ),
            worker=settings.ingest_worker_id,
            allowed_buckets=frozenset(settings.ingest_allowed_buckets),
            store_threads=settings.ingest_store_threads,
        )
        extra = {"worker": settings.ingest_worker_id, "topic": topics.ingest_requests}
        log.info("ingest consuming", extra=extra)
        await uploads(consumer, producer, runner, topics).serve(stop)
        log.info("ingest stopping", extra=extra)
