"""The composition root: Postgres pool, cache, hub, Kafka feed and the websocket server."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import asyncpg
from websockets.asyncio.server import ServerConnection, serve

from dicompress_infra.auth import AuthError
from dicompress_infra.metrics import new_registry
from dicompress_infra.running import run_until_signalled
from dicompress_notifier.errors import NotifierError
from dicompress_notifier.feed import Feed
from dicompress_notifier.gate import Gate
from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.session import Services, Session
from dicompress_notifier.settings import NotifierSettings
from dicompress_notifier.store import EventStore
from dicompress_notifier.subscription import Timing
from dicompress_notifier.telemetry import NotifierMetrics

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
MAX_CLIENT_FRAME = 64 * 1024  # client frames are a few dozen bytes


async def run(settings: NotifierSettings) -> None:
    """Serve until SIGTERM or SIGINT; open connections are closed with 1001 (going away)."""
    await run_until_signalled(partial(serve_notifier, settings))


async def serve_notifier(
    settings: NotifierSettings, stop: asyncio.Event, timing: Timing | None = None
) -> None:
    """Serve until `stop` is set. Fails (so the process exits) if the feed fails."""
    hub = Hub(JobHistory(settings.notifier_history_window_s, settings.notifier_max_jobs_cached))
    topics = settings.topics
    feed = Feed(
        settings.kafka_bootstrap_servers,
        [topics.requests, topics.events],
        settings.notifier_history_window_s,
        hub,
    )
    registry = new_registry()
    metrics = NotifierMetrics(registry)
    metrics.watch(hub)
    gate = Gate(
        settings.jwt_secret.get_secret_value(),
        settings.jwt_audience,
        feed.ready.is_set,
        registry,
    )
    async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=4) as pool:
        services = Services(
            hub, EventStore(pool), settings.notifier_max_queue, timing or Timing(), metrics
        )

        async def handler(ws: ServerConnection) -> None:
            assert ws.request is not None  # the handler only runs after a handshake
            try:
                tenant = gate.tenant(ws.request)
            except AuthError as exc:  # expired between the handshake and now
                await ws.close(POLICY_VIOLATION, str(exc)[:120])
                return
            log.info("client connected", extra={"tenant": tenant})
            with metrics.connections.track_inprogress():
                await Session(ws, tenant, services).serve()

        feeding = asyncio.create_task(feed.run())
        stopping = asyncio.create_task(stop.wait())
        try:
            async with serve(
                handler,
                settings.notifier_host,
                settings.notifier_port,
                process_request=gate,
                max_size=MAX_CLIENT_FRAME,
            ):
                log.info(
                    "notifier listening",
                    extra={"host": settings.notifier_host, "port": settings.notifier_port},
                )
                await asyncio.wait({feeding, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (feeding, stopping):
                task.cancel()
            await asyncio.gather(feeding, stopping, return_exceptions=True)
        if not feeding.cancelled() and (error := feeding.exception()) is not None:
            raise NotifierError(f"the Kafka feed stopped: {error}") from error
    log.info("notifier stopped")
