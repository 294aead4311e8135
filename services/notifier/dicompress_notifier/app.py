"""The composition root: Postgres pool, cache, hub, Kafka feed and producer, the change
listener and the websocket server."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import cast

import asyncpg
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Origin

from dicompress_infra.auth import AuthError, verifier_from_settings
from dicompress_infra.kafka import make_producer
from dicompress_infra.listen import PgListener
from dicompress_infra.metrics import new_registry
from dicompress_infra.running import run_until_signalled
from dicompress_notifier.catchup import CatchUp
from dicompress_notifier.commands import Canceller
from dicompress_notifier.errors import NotifierError
from dicompress_notifier.feed import Feed
from dicompress_notifier.gate import Gate
from dicompress_notifier.gctune import tune_gc
from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.session import Services, Session
from dicompress_notifier.settings import NotifierSettings
from dicompress_notifier.store import EventStore
from dicompress_notifier.subscription import Timing
from dicompress_notifier.telemetry import NotifierMetrics

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


async def run(settings: NotifierSettings) -> None:
    """Serve until SIGTERM or SIGINT; open connections are closed with 1001 (going away)."""
    tune_gc(settings.notifier_gc_young_threshold)
    await run_until_signalled(partial(serve_notifier, settings))


def allowed_origins(settings: NotifierSettings) -> list[Origin | None] | None:
    """websockets' `origins`: None accepts any; otherwise the listed ones and no Origin at all
    (non-browser clients send none, and a browser always sends one)."""
    if not settings.notifier_allowed_origins:
        return None
    return [*(cast(Origin, o) for o in settings.notifier_allowed_origins), None]


def listening_socket(settings: NotifierSettings) -> socket.socket:
    """The server socket; accepted client sockets inherit its TCP_NODELAY and SO_SNDBUF
    (Linux)."""
    host = settings.notifier_host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" binds both on Linux
    sock = socket.create_server(
        (host, settings.notifier_port), family=family, backlog=1024, dualstack_ipv6=host == "::"
    )
    # asyncio turns Nagle off only for sockets whose proto is IPPROTO_TCP, and this one's is 0:
    # without this, a frame written right after another waits for the client's (delayed) ACK,
    # tens of milliseconds on every burst of small frames
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if settings.notifier_send_buffer_bytes is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.notifier_send_buffer_bytes)
    return sock


async def serve_notifier(
    settings: NotifierSettings, stop: asyncio.Event, timing: Timing | None = None
) -> None:
    """Serve until `stop` is set. Fails (so the process exits) if the feed fails."""
    hub = Hub(JobHistory(settings.notifier_history_window_s, settings.notifier_max_jobs_cached))
    topics = settings.topics
    feed = Feed(
        settings.kafka_bootstrap_servers,
        [*topics.compressor_requests, topics.events],
        settings.notifier_history_window_s,
        hub,
    )
    # ONE LISTEN per instance: a notification the live Kafka stream has already covered wakes
    # nobody; any other wakes the subscriptions of its job (see `Hub.wake`, `CatchUp`).
    changes = PgListener(
        settings.database_url,
        settings.change_feed_channel,
        hub.notified,
        on_listening=hub.wake_all,
    )
    registry = new_registry()
    metrics = NotifierMetrics(registry)
    gate = Gate(verifier_from_settings(settings), feed.ready.is_set, registry)
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=4) as pool:
            store = EventStore(pool)
            catch_up = CatchUp(store, hub)
            metrics.watch(hub, catch_up)
            services = Services(
                hub,
                store,
                catch_up,
                settings.notifier_max_queue,
                timing or Timing(),
                metrics,
                Canceller(producer, topics.control, settings.notifier_command_timeout_s),
                settings.notifier_coalesce_after,
                settings.notifier_idle_timeout_s,
                settings.notifier_end_after_projection,
            )

            async def handler(ws: ServerConnection) -> None:
                assert ws.request is not None  # the handler only runs after a handshake
                try:
                    tenant = await gate.tenant(ws.request)
                except AuthError as exc:  # expired between the handshake and now
                    await ws.close(POLICY_VIOLATION, str(exc)[:120])
                    return
                log.info("client connected", extra={"tenant": tenant})
                with metrics.connections.track_inprogress():
                    await Session(ws, tenant, services).serve()

            await _serve(settings, handler, gate, feed, changes, stop)
    finally:
        await producer.stop()
    log.info("notifier stopped")


async def _serve(
    settings: NotifierSettings,
    handler: Callable[[ServerConnection], Awaitable[None]],
    gate: Gate,
    feed: Feed,
    changes: PgListener,
    stop: asyncio.Event,
) -> None:
    feeding = asyncio.create_task(feed.run())
    listening = asyncio.create_task(changes.run())
    stopping = asyncio.create_task(stop.wait())
    tasks = (feeding, listening, stopping)
    try:
        async with serve(
            handler,
            sock=listening_socket(settings),
            process_request=gate,
            max_size=settings.notifier_max_frame_bytes,
            ping_interval=settings.notifier_ping_interval_s,
            ping_timeout=settings.notifier_ping_timeout_s,
            origins=allowed_origins(settings),
            compression=None if settings.notifier_compression == "none" else "deflate",
        ):
            log.info(
                "notifier listening",
                extra={"host": settings.notifier_host, "port": settings.notifier_port},
            )
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task, what in ((feeding, "the Kafka feed"), (listening, "the change listener")):
        if not task.cancelled() and (error := task.exception()) is not None:
            raise NotifierError(f"{what} stopped: {error}") from error
