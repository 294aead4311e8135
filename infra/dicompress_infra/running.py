"""The one way a service runs: until SIGTERM or SIGINT, then a clean shutdown.

And the pieces every consuming service (compressor, ingest, products, renderer) starts in its
`serve`, each handed the service's AsyncExitStack so that it is closed, in reverse order, when
`serve` returns: the health endpoint, a producer, a consumer that has joined its group. The
service still names each piece and its order; only how one is started and stopped lives here.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from prometheus_client import CollectorRegistry

from dicompress_infra.health import serve_health
from dicompress_infra.kafka import make_producer

T = TypeVar("T")

# aiokafka's own default: a handler that runs longer loses its partition to another member.
DEFAULT_MAX_POLL_INTERVAL_MS = 5 * 60 * 1000


async def run_until_signalled(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `serve(stop)`; SIGTERM/SIGINT set `stop`, and `serve` must return soon after."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def until_set(event: asyncio.Event, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run `work` until it ends or `event` is set, whichever comes first, and return its task:
    done (with its result or exception), or cancelled and awaited when `event` won (or we were
    cancelled meanwhile: then the cancel propagates once the work has stopped)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return task


async def start_health(
    stack: AsyncExitStack,
    port: int,
    host: str,
    is_ready: Callable[[], bool],
    registry: CollectorRegistry,
) -> asyncio.Server:
    """`serve_health` on host:port, closed when `stack` closes."""
    health = await serve_health(port, is_ready, host=host, registry=registry)
    stack.push_async_callback(health.wait_closed)
    stack.callback(health.close)
    return health


async def start_producer(stack: AsyncExitStack, bootstrap_servers: str) -> AIOKafkaProducer:
    """A started `make_producer` producer, stopped (its buffer flushed) when `stack` closes."""
    producer = make_producer(bootstrap_servers)
    await producer.start()
    stack.push_async_callback(producer.stop)
    return producer


async def join_group(
    stack: AsyncExitStack,
    bootstrap_servers: str,
    group_id: str,
    topic: str,
    listener: ConsumerRebalanceListener,
    max_poll_interval_ms: int = DEFAULT_MAX_POLL_INTERVAL_MS,
) -> AIOKafkaConsumer:
    """A started member of `group_id` subscribed to `topic`: offsets committed by the service
    after each effect (never automatically), a new group starting at the earliest message.
    When `stack` closes it leaves the group, so the others take its partitions at once."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_interval_ms=max_poll_interval_ms,
    )
    consumer.subscribe([topic], listener=listener)
    await consumer.start()
    stack.push_async_callback(consumer.stop)
    return consumer
