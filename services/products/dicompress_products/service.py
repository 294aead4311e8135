"""The composition root: build the adapters from settings, wire them, run until told to stop."""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import AsyncExitStack

import asyncpg

from dicompress_infra.kafka import publish
from dicompress_infra.metrics import new_registry
from dicompress_infra.requests import JoinTracker
from dicompress_infra.running import join_group, run_until_signalled, start_health, start_producer
from dicompress_products.index import StudyIndex
from dicompress_products.manager import ProcessManager
from dicompress_products.settings import ProductsSettings
from dicompress_products.worker import IngestFollower
from dicompress_schemas import ProductRequested, Topics
from dicompress_schemas.products import request_topic

log = logging.getLogger(__name__)


async def run(settings: ProductsSettings) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    await run_until_signalled(functools.partial(serve, settings))


async def serve(settings: ProductsSettings, stop: asyncio.Event) -> None:
    """Follow ingests until `stop` is set. Tests call this directly with their own settings."""
    topics = settings.topics
    tracker = JoinTracker()
    async with AsyncExitStack() as stack:
        await start_health(
            stack,
            settings.products_health_port,
            settings.products_health_host,
            lambda: tracker.joined and not stop.is_set(),
            new_registry(),
        )
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        producer = await start_producer(stack, settings.kafka_bootstrap_servers)
        consumer = await join_group(
            stack,
            settings.kafka_bootstrap_servers,
            settings.products_group_id,
            topics.ingest_events,
            tracker,
        )

        async def send(request: ProductRequested, to: Topics = topics) -> None:
            await publish(producer, request_topic(request.kind, to), request)

        manager = ProcessManager(
            index=StudyIndex(pool),
            publish=send,
            policy=settings.policy,
            projection_wait_s=settings.products_projection_wait_s,
        )
        log.info("products following ingests", extra={"topic": topics.ingest_events})
        await IngestFollower(consumer, manager).serve(stop)
        log.info("products stopping")
