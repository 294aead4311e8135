"""The composition root: build the adapters from settings, wire them, run until told to stop."""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import AsyncExitStack

import asyncpg
from aiokafka import AIOKafkaConsumer

from dicompress_infra.health import serve_health
from dicompress_infra.kafka import make_producer, publish
from dicompress_infra.metrics import new_registry
from dicompress_infra.requests import JoinTracker
from dicompress_infra.running import run_until_signalled
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
        health = await serve_health(
            settings.products_health_port,
            lambda: tracker.joined and not stop.is_set(),
            host=settings.products_health_host,
            registry=new_registry(),
        )
        stack.push_async_callback(health.wait_closed)
        stack.callback(health.close)
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        stack.push_async_callback(producer.stop)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.products_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        consumer.subscribe([topics.ingest_events], listener=tracker)
        await consumer.start()
        stack.push_async_callback(consumer.stop)

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
