"""Publishing with aiokafka (a job's `CompressionRequested`, a product's `ProductRequested`, an
upload's `ArchiveUploaded`, and
commands such as `CancelRequested`): connect in the background, wait for acks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError

from dicompress_api.web.errors import PublishUnavailable
from dicompress_infra.kafka import make_producer, publish, publish_command
from dicompress_schemas import (
    ArchiveUploaded,
    CompressionRequested,
    Lane,
    ProductRequested,
    Topics,
)
from dicompress_schemas.commands import Command
from dicompress_schemas.products import request_topic

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0
_PROBE_TIMEOUT_S = 3.0
_CLOSE_TIMEOUT_S = 10.0


class KafkaPublisher:
    """One idempotent producer, (re)connected by a background task.

    The API must start, and say it is not ready, while the broker is away; so `start` only
    launches the connecting task, and `publish` waits for a connection within its own deadline.
    A publish that times out discards the producer with everything it still holds: a caller who
    got a 503 must not find the job running later because a retry delivered it after all.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Topics,
        timeout_s: float,
        producer_factory: Callable[[str], AIOKafkaProducer] = make_producer,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._timeout_s = timeout_s
        self._factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self) -> None:
        self._spawn(self._connect())

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                # stop() flushes; bounded, since a dead broker would make it wait forever.
                await asyncio.wait_for(producer.stop(), _CLOSE_TIMEOUT_S)
            except (TimeoutError, KafkaError):
                await discard(producer)

    async def publish(self, event: CompressionRequested, lane: Lane) -> None:
        """Put a job's request on its lane's topic (`Topics.lane`); return once the broker
        acknowledged it, within the publish timeout."""
        topic = self._topics.lane(lane)
        await self._deliver("the job", lambda producer: publish(producer, topic, event))

    async def publish_ingest(self, event: ArchiveUploaded) -> None:
        """Put an upload's first event on the ingest requests topic, keyed by its ingest, with
        the same guarantees."""
        topic = self._topics.ingest_requests
        await self._deliver("the upload", lambda producer: publish(producer, topic, event))

    async def publish_product(self, event: ProductRequested) -> None:
        """Put a product's request on the topic of whoever makes it (`request_topic`), with
        the same guarantees."""
        topic = request_topic(event.kind, self._topics)
        await self._deliver("the product", lambda producer: publish(producer, topic, event))

    async def send_command(self, command: Command) -> None:
        """Put a command on the control topic, keyed by its job, with the same guarantees."""
        topic = self._topics.control
        await self._deliver(
            "the command", lambda producer: publish_command(producer, topic, command)
        )

    async def _deliver(
        self, what: str, send: Callable[[AIOKafkaProducer], Coroutine[Any, Any, object]]
    ) -> None:
        producer: AIOKafkaProducer | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._connected.wait()
                producer = self._producer
                assert producer is not None  # set together with _connected
                await send(producer)
        except TimeoutError as exc:
            if producer is not None:
                self._abandon(producer)
            raise PublishUnavailable(
                f"Kafka did not acknowledge {what} within {self._timeout_s:g} s"
            ) from exc
        except KafkaError as exc:
            raise PublishUnavailable(f"Kafka refused {what}: {exc}") from exc

    async def problem(self) -> str | None:
        producer = self._producer
        if producer is None or not self._connected.is_set():
            return f"kafka: not connected to {self._bootstrap}"
        try:
            # A metadata round trip proves a broker answers now, not just at start-up.
            await asyncio.wait_for(producer.client.fetch_all_metadata(), _PROBE_TIMEOUT_S)
        except (TimeoutError, KafkaError, OSError) as exc:
            return f"kafka: {type(exc).__name__}: {exc}"
        return None

    async def _connect(self) -> None:
        backoff = 0.2
        while not self._closing:
            producer = self._factory(self._bootstrap)
            try:
                await producer.start()
            except asyncio.CancelledError:
                await discard(producer)  # closing while connecting: do not leak its sockets
                raise
            except (KafkaError, OSError) as exc:
                log.warning(
                    "cannot connect to Kafka yet",
                    extra={"bootstrap": self._bootstrap, "error": str(exc), "retry_s": backoff},
                )
                await discard(producer)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            self._producer = producer
            self._connected.set()
            log.info("connected to Kafka", extra={"bootstrap": self._bootstrap})
            return

    def _abandon(self, producer: AIOKafkaProducer) -> None:
        if producer is not self._producer:
            return  # another timed-out request already discarded it
        self._producer = None
        self._connected.clear()
        log.warning("discarding a Kafka producer that stopped answering")
        drop_pending(producer)
        self._spawn(self._replace(producer))

    async def _replace(self, producer: AIOKafkaProducer) -> None:
        await discard(producer)
        await self._connect()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def drop_pending(producer: AIOKafkaProducer) -> None:
    """Fail every message the producer still holds and stop it from sending any more.

    aiokafka has no public way to do this: an idempotent producer retries a batch until it is
    delivered, so a message queued before a timeout could land minutes later. Synchronous on
    purpose, so no batch can be drained between failing them and stopping the sender.
    """
    # Private aiokafka 0.14 internals; tests/integration/api checks this still holds.
    accumulator = producer._message_accumulator
    accumulator.fail_all(KafkaTimeoutError("discarded after a publish timeout"))
    for batch in (
        *chain.from_iterable(accumulator._batches.values()),
        *accumulator._pending_batches,
    ):
        batch._drain_waiter.exception()  # nobody awaits it now; mark it seen, so no GC warning
    sender_task = producer._sender.sender_task
    if sender_task is not None and not sender_task.done() and not sender_task.cancelling():
        # Once: a second cancel would cut short its wait for the requests still in flight.
        sender_task.cancel()


async def discard(producer: AIOKafkaProducer) -> None:
    """Close a producer without delivering what it still holds (never raises)."""
    try:
        sender_task = producer._sender.sender_task
        drop_pending(producer)
        # Closing the connections makes a request still on the wire fail now, not land later.
        await asyncio.wait_for(producer.client.close(), _CLOSE_TIMEOUT_S)
        if sender_task is not None:
            await asyncio.wait([sender_task], timeout=_CLOSE_TIMEOUT_S)
            if not sender_task.done():
                log.warning("a discarded Kafka producer is still sending; leaving it")
                return
        # Nothing is left to flush now; stop() only marks the producer closed.
        await asyncio.wait_for(producer.stop(), _CLOSE_TIMEOUT_S)
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("error while discarding a Kafka producer", extra={"error": str(exc)})
