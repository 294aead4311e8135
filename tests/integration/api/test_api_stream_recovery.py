"""The SSE stream's edge cases over real HTTP and Postgres: events recorded out of order, a seq
that never comes, and the shared LISTEN connection being killed.

Rows and notifications are written here exactly as the progress service writes them (its
`job_events` rows and its NOTIFY on the change feed's channel), to place each edge case precisely.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from test_api_stream import Reader, serve_http, stream_app

import polling
from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from dicompress_schemas import changefeed

pytestmark = pytest.mark.integration

GAP_GRACE_S = 2.0
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class Projection:
    """Writes what the progress service would: a job's row, its events, and the notification."""

    def __init__(
        self, db: asyncpg.Connection[Any], tenant: str = "acme", channel: str = changefeed.CHANNEL
    ) -> None:
        self.db = db
        self.tenant = tenant
        self.channel = channel
        self.job_id = uuid.uuid4()

    async def create(self) -> None:
        await self.db.execute(
            "INSERT INTO jobs (job_id, tenant, status) VALUES ($1, $2, 'running')",
            self.job_id,
            self.tenant,
        )

    async def record(self, *seqs: int, terminal: int | None = None) -> None:
        """Record the events `seqs` (JobCompleted for `terminal`) and notify, in one commit."""
        async with self.db.transaction():
            for seq in seqs:
                kind = "JobCompleted" if seq == terminal else "SliceEncoded"
                payload = {"type": kind, "job_id": str(self.job_id), "seq": seq}
                await self.db.execute(
                    "INSERT INTO job_events (job_id, seq, event_id, type, occurred_at, payload)"
                    " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                    self.job_id,
                    seq,
                    uuid.uuid4(),
                    kind,
                    T0,
                    orjson.dumps(payload).decode(),
                )
            note = orjson.dumps({"job_id": str(self.job_id), "last_seq": max(seqs)}).decode()
            await self.db.execute("SELECT pg_notify($1, $2)", self.channel, note)


@pytest.fixture
async def base_url(settings: ApiSettings, database: asyncpg.Connection[Any]) -> AsyncIterator[str]:
    async with serve_http(stream_app(settings, gap_grace_s=GAP_GRACE_S)) as url:
        yield url


@contextlib.asynccontextmanager
async def open_stream(
    base_url: str, settings: ApiSettings, job_id: uuid.UUID
) -> AsyncIterator[Reader]:
    token = issue_token(settings.jwt_secret.get_secret_value(), "acme", settings.jwt_audience)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10)) as client,
        client.stream(
            "GET", f"/jobs/{job_id}/stream", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        assert response.status_code == 200
        yield Reader(response.aiter_lines())


async def seqs(reader: Reader, n: int, within_s: float = 10) -> list[int]:
    async with asyncio.timeout(within_s):
        got = [await reader.next() for _ in range(n)]
    return [m.seq for m in got if m is not None]


async def test_a_late_recorded_event_is_waited_for_and_sent_in_order(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    await job.record(0, 1, 3)  # seq 2 is not recorded yet (it came on another partition)

    async with open_stream(base_url, settings, job.job_id) as reader:
        assert await seqs(reader, 2) == [0, 1]  # 3 is held back until 2 arrives
        await job.record(2)
        assert await seqs(reader, 2) == [2, 3]
        await job.record(4, terminal=4)
        assert await seqs(reader, 1) == [4]
        assert await reader.all() == []  # and the stream ends after the terminal event


async def test_a_gap_that_never_fills_is_skipped_after_the_grace_period(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    await job.record(0, 2, 3, terminal=3)  # seq 1 never comes

    async with open_stream(base_url, settings, job.job_id) as reader:
        loop = asyncio.get_running_loop()
        assert await seqs(reader, 1) == [0]
        held_from = loop.time()
        assert await seqs(reader, 2, within_s=GAP_GRACE_S + 10) == [2, 3]
        assert loop.time() - held_from >= GAP_GRACE_S * 0.9  # not before the grace period
        assert await reader.all() == []


async def test_a_hole_before_the_end_is_not_waited_for(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    # a re-run failed past the seqs its crashed first run could have used (`attempts`):
    # 3..6 will never come, and the terminal event says so
    await job.record(0, 1, 2, 7, terminal=7)

    async with open_stream(base_url, settings, job.job_id) as reader:
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await seqs(reader, 4) == [0, 1, 2, 7]
        assert loop.time() - began < GAP_GRACE_S * 0.5
        assert await reader.all() == []


async def test_streams_recover_when_the_listen_connection_is_killed(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    await job.record(0)
    listening = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
    )

    async with open_stream(base_url, settings, job.job_id) as reader:
        assert await seqs(reader, 1) == [0]
        pid = await polling.eventually(lambda: database.fetchval(listening), "a LISTEN", 10)
        await database.execute("SELECT pg_terminate_backend($1)", pid)
        await job.record(1)  # notified while nobody listens: read on reconnection (or by poll)
        assert await seqs(reader, 1) == [1]

        async def replaced() -> bool:
            return await database.fetchval(listening) not in (None, pid)

        await polling.eventually(replaced, "the listener to reconnect", 15)
        await job.record(2, terminal=2)
        assert await seqs(reader, 1) == [2]
        assert await reader.all() == []


async def test_the_api_listens_on_the_channel_its_settings_name(
    settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    """`CHANGE_FEED_CHANNEL` is where the API LISTENs (it once always used the default): a
    notification there wakes the stream at once, long before its 15 s heartbeat would."""
    custom = settings.model_copy(update={"change_feed_channel": f"feed_{uuid.uuid4().hex[:8]}"})
    job = Projection(database, channel=custom.change_feed_channel)
    await job.create()
    await job.record(0)
    listening = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    listening += " AND query = $1"
    listen = f'LISTEN "{custom.change_feed_channel}"'
    async with (
        serve_http(create_app(custom)) as url,
        open_stream(url, custom, job.job_id) as reader,
    ):
        assert await seqs(reader, 1) == [0]
        await polling.eventually(lambda: database.fetchval(listening, listen), "the LISTEN", 10)
        await job.record(1, terminal=1)
        assert await seqs(reader, 1, within_s=5) == [1]
        assert await reader.all() == []
