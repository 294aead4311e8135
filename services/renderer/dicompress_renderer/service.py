"""The composition root: build the adapters from settings, wire them, run until told to stop."""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack

from dicompress_infra.kafka import publish
from dicompress_infra.metrics import new_registry
from dicompress_infra.requests import JoinTracker
from dicompress_infra.running import join_group, run_until_signalled, start_health, start_producer
from dicompress_infra.s3 import ObstoreBuckets, make_s3_client
from dicompress_renderer.runner import RenderRunner
from dicompress_renderer.settings import RendererSettings
from dicompress_renderer.snapshot import warm_up
from dicompress_renderer.source import obstore_get
from dicompress_renderer.volume_cache import VolumeCache
from dicompress_renderer.worker import render_requests

log = logging.getLogger(__name__)

# A 3D snapshot of a big series takes seconds, not minutes; this is a wide margin.
MAX_POLL_INTERVAL_MS = 10 * 60 * 1000


async def run(settings: RendererSettings) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    await run_until_signalled(functools.partial(serve, settings))


async def serve(settings: RendererSettings, stop: asyncio.Event) -> None:
    """Consume render requests until `stop` is set. Tests call this with their own settings."""
    topics = settings.topics
    tracker = JoinTracker()
    async with AsyncExitStack() as stack:
        await start_health(
            stack,
            settings.renderer_health_port,
            settings.renderer_health_host,
            lambda: tracker.joined and not stop.is_set(),
            new_registry(),
        )
        pool = None
        if settings.renderer_vtk_process:
            # spawn: a fresh interpreter, no copy of our threads, sockets or Kafka clients
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            pool.submit(warm_up)  # starts the process and loads vtk while nothing waits on it
        producer = await start_producer(stack, settings.kafka_bootstrap_servers)
        consumer = await join_group(
            stack,
            settings.kafka_bootstrap_servers,
            settings.renderer_group_id,
            topics.render_requests,
            tracker,
            MAX_POLL_INTERVAL_MS,
        )
        runner = RenderRunner(
            client=make_s3_client(settings),
            emit=functools.partial(publish, producer, topics.events),
            worker=settings.renderer_worker_id,
            allowed_buckets=frozenset(settings.renderer_allowed_buckets),
            read_threads=settings.renderer_read_threads,
            render_pool=pool,
            volumes=VolumeCache(settings.renderer_volume_cache),
            get_object=obstore_get(ObstoreBuckets(settings)),
        )
        extra = {"worker": settings.renderer_worker_id, "topic": topics.render_requests}
        log.info("renderer consuming", extra=extra)
        await render_requests(consumer, producer, runner.run, topics).serve(stop)
        log.info("renderer stopping", extra=extra)
