"""The worker's I/O resources as one mode Service: Postgres pool (migrated), dead-letter producer.

The app starts it before its consumer and agents and stops it after them, so the agent never
sees a closed pool.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from aiokafka import AIOKafkaProducer
from mode import Service

from dicompress_infra.kafka import dead_letter, make_producer
from dicompress_progress.errors import ProgressError
from dicompress_progress.handler import Message, Projector
from dicompress_progress.migrate import apply_migrations
from dicompress_progress.retry import RetryPolicy
from dicompress_progress.settings import ProgressSettings
from dicompress_progress.store import ProjectionStore

log = logging.getLogger(__name__)


class KafkaDeadLetters:
    """Parks a message on the dead-letter topic with the reason and its origin in headers."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def send(self, message: Message, reason: str) -> None:
        await dead_letter(
            self._producer, self._topic, message.value, message.key, reason, str(message.origin)
        )


class Resources(Service):
    """Opens what the projector needs; `ready` once the schema is migrated and all is open."""

    def __init__(self, settings: ProgressSettings) -> None:
        super().__init__()
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._projector: Projector | None = None

    @property
    def ready(self) -> bool:
        return self._projector is not None

    @property
    def projector(self) -> Projector:
        if self._projector is None:
            raise ProgressError("the worker's resources are not started (or already stopped)")
        return self._projector

    async def on_start(self) -> None:
        settings = self._settings
        self._pool = await _open_pool(settings)
        async with self._pool.acquire() as conn:
            await apply_migrations(conn)
        self._producer = make_producer(settings.kafka_bootstrap_servers)
        await self._producer.start()
        self._projector = Projector(
            ProjectionStore(self._pool, settings.change_feed_channel),
            KafkaDeadLetters(self._producer, settings.topics.dead_letter),
            RetryPolicy(
                base_s=settings.progress_retry_base_s,
                cap_s=settings.progress_retry_cap_s,
                poison_attempts=settings.progress_poison_attempts,
            ),
            command_topics=[settings.topics.control],
            ingest_topics=[settings.topics.ingest_requests, settings.topics.ingest_events],
        )
        log.info("progress resources ready", extra={"topics": list(settings.topics.all())})

    async def on_stop(self) -> None:
        self._projector = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _open_pool(settings: ProgressSettings) -> asyncpg.Pool:
    """A pool, waiting for Postgres up to the start-up timeout (it may start after us)."""
    deadline = time.monotonic() + settings.progress_db_startup_timeout_s
    delay = 0.2
    while True:
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                settings.database_url,
                min_size=1,
                max_size=settings.progress_db_pool_size,
                command_timeout=30,
            )
            return pool
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if time.monotonic() + delay > deadline:
                raise ProgressError(
                    f"Postgres is unreachable at DATABASE_URL after "
                    f"{settings.progress_db_startup_timeout_s:g} s ({exc}); start it or fix the URL"
                ) from exc
            log.warning("Postgres not reachable yet; retrying", extra={"error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
