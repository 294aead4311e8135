"""Side by side and through a lost Postgres connection: two notifier processes each serve
their own clients from the whole event stream, and the one LISTEN per instance comes back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from notifier_harness import (
    LAST_SEQ,
    StartNotifier,
    frames_until,
    is_end,
    is_op,
    job_events,
    seqs,
    subscribe,
)
from websockets.asyncio.client import connect

import polling
from dicompress_infra.auth import issue_token
from dicompress_progress.migrate import apply_migrations
from dicompress_stack.testing import ServiceRunner

pytestmark = pytest.mark.integration

_LISTENERS = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()
"""


async def test_two_notifier_processes_both_deliver_every_event(
    service_runner: ServiceRunner, test_env: dict[str, str], start_notifier: StartNotifier
) -> None:
    first, second = await asyncio.gather(  # started side by side: each takes seconds
        asyncio.to_thread(service_runner.start, "notifier"),
        asyncio.to_thread(service_runner.start, "notifier"),
    )
    token = issue_token(test_env["JWT_SECRET"], "acme", test_env.get("JWT_AUDIENCE", "dicompress"))
    job = uuid.uuid4()
    # the fixture's notifier is only used to publish (its producer) and is a third instance
    async with (
        start_notifier() as feeder,
        connect(f"{first.ws_url}?token={token}") as a,
        connect(f"{second.ws_url}?token={token}") as b,
    ):
        for ws in (a, b):
            await subscribe(ws, job, since_seq=-1)
        events = job_events(job, "acme")
        await feeder.publish(events)
        # projected too, as the progress service would: these processes run with their
        # defaults, so each holds the job's end until the projection says it applied it
        await feeder.project(events)
        for ws in (a, b):
            assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))


async def test_the_change_listener_comes_back_and_rereads_what_it_missed(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    events = job_events(job, "acme")
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await subscribe(ws, job, since_seq=-1)
        db = notifier.db
        (old,) = [r["pid"] for r in await db.fetch(_LISTENERS)]
        await db.execute("SELECT pg_terminate_backend($1)", old)
        # projected (never on Kafka) while the listener is away or coming back
        await notifier.project(events[:3])

        async def relistened() -> list[Any]:
            return [r["pid"] for r in await db.fetch(_LISTENERS) if r["pid"] != old]

        await polling.eventually(relistened, "a new LISTEN connection", within_s=10)
        got: list[dict[str, Any]] = []
        while len(got) < 3:
            got += await frames_until(ws, is_op("event"))
        assert seqs(got) == [0, 1, 2]
        await notifier.project(events[3:])  # and notifications flow again
        assert seqs(await frames_until(ws, is_end)) == list(range(3, LAST_SEQ + 1))


@pytest.fixture(autouse=True)
async def _migrated(test_env: dict[str, str]) -> None:
    """The notifier processes read the projection's tables: create them first."""
    db = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        await apply_migrations(db)
    finally:
        await db.close()
