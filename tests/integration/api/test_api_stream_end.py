"""SSE after the end (issue 16): a stream says the job has ended with a last `event: end`, both
after delivering the terminal event and when resumed at or after it, so an EventSource is
closed instead of reconnecting every `retry` ms forever. Served as `create_app` wires the route
(its own pool, listener, token check), over real HTTP and Postgres; the rows are written as the
progress service writes them (`Projection`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from test_api_stream import Reader, serve_http
from test_api_stream_recovery import Projection

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token

pytestmark = pytest.mark.integration


@pytest.fixture
async def base_url(settings: ApiSettings, database: asyncpg.Connection[Any]) -> AsyncIterator[str]:
    async with serve_http(create_app(settings)) as url:
        yield url


@contextlib.asynccontextmanager
async def stream(
    base_url: str, settings: ApiSettings, job_id: uuid.UUID, last_event_id: str | None = None
) -> AsyncIterator[Reader]:
    """The job's stream, resumed after `last_event_id` as an EventSource does."""
    token = issue_token(settings.jwt_secret.get_secret_value(), "acme", settings.jwt_audience)
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10)) as client,
        client.stream("GET", f"/jobs/{job_id}/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        yield Reader(response.aiter_lines())


def ended_at(job: Projection, seq: int) -> dict[str, Any]:
    return {"job_id": str(job.job_id), "seq": seq, "type": "JobCompleted"}


async def test_a_stream_ends_with_an_end_message_after_the_terminal_event(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    await job.record(0, 1, 2, terminal=2)
    async with stream(base_url, settings, job.job_id) as reader:
        events = await reader.all()  # fails unless `end` comes, then the server closes
    assert [(m.seq, m.event) for m in events] == [(0, "SliceEncoded"), (1, "SliceEncoded"),
                                                  (2, "JobCompleted")]  # fmt: skip
    assert reader.end is not None
    assert reader.end.id is None  # so an EventSource's lastEventId stays the terminal seq
    assert reader.end.json() == ended_at(job, 2)
    assert reader.retry == [3000]


async def test_a_resume_at_or_after_the_terminal_event_gets_only_the_end(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    await job.record(0, 1, 2, terminal=2)
    # what an EventSource that was not closed on `end` sends at each reconnection
    for last_event_id in ("2", "7"):
        async with stream(base_url, settings, job.job_id, last_event_id) as reader:
            assert await reader.all() == []
            assert reader.end is not None
            assert reader.end.json() == ended_at(job, 2)


async def test_a_live_stream_ends_with_the_end_message_when_the_job_does(
    base_url: str, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job = Projection(database)
    await job.create()
    await job.record(0)
    async with stream(base_url, settings, job.job_id) as reader:
        first = await reader.next()
        assert first is not None
        assert first.seq == 0
        await job.record(1, terminal=1)
        assert [m.seq for m in await reader.all()] == [1]
        assert reader.end is not None
        assert reader.end.json() == ended_at(job, 1)
