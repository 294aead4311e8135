"""Fixtures of the notifier's integration tests: the notifier in-process on the test's fresh
topics and database, with a producer and a Postgres connection to feed it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from notifier_harness import Notifier, StartNotifier, until_healthy

from dicompress_infra.kafka import make_producer
from dicompress_notifier.app import serve_notifier
from dicompress_notifier.settings import NotifierSettings
from dicompress_notifier.subscription import Timing
from dicompress_progress.migrate import apply_migrations
from dicompress_stack.net import free_port

FAST = Timing(poll_first_s=0.3, poll_max_s=1.0, give_up_s=5.0)


@pytest.fixture
async def start_notifier(settings_for: Any) -> AsyncIterator[StartNotifier]:
    """`async with start_notifier(**settings) as notifier`: the notifier in-process (call it
    after publishing, to test the warm-up); each call is a fresh instance."""
    base: NotifierSettings = settings_for(NotifierSettings)
    db = await asyncpg.connect(base.database_url)
    await apply_migrations(db)
    producer = make_producer(base.kafka_bootstrap_servers)
    await producer.start()

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Notifier]:
        # No progress service runs here (tests project by hand, if at all), so the wait for
        # the projection before a terminal event is off unless a test turns it on
        relay_only = {"notifier_port": free_port(), "notifier_end_after_projection": False}
        settings: NotifierSettings = settings_for(NotifierSettings, **(relay_only | overrides))
        stop = asyncio.Event()
        task = asyncio.create_task(serve_notifier(settings, stop, FAST))
        try:
            await until_healthy(settings.notifier_port, task)
            yield Notifier(settings, producer, db, settings.notifier_port)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        yield start
    finally:
        await producer.stop()
        await db.close()
