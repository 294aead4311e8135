"""The composition root: build the adapters from settings, wire them, run until told to stop."""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import AsyncExitStack

from dicompress_infra.kafka import enqueue
from dicompress_infra.metrics import new_registry
from dicompress_infra.requests import JoinTracker
from dicompress_infra.running import join_group, run_until_signalled, start_health, start_producer
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
        await start_health(
            stack,
            settings.ingest_health_port,
            settings.ingest_health_host,
            lambda: tracker.joined and not stop.is_set(),
            new_registry(),
        )
        producer = await start_producer(stack, settings.kafka_bootstrap_servers)
        consumer = await join_group(
            stack,
            settings.kafka_bootstrap_servers,
            settings.ingest_group_id,
            topics.ingest_requests,
            tracker,
            MAX_POLL_INTERVAL_MS,
        )
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
