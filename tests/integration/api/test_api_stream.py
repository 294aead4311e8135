"""`GET /jobs/{id}/stream` (Server-Sent Events) over real HTTP, with events published to Kafka
and projected into Postgres by the real progress service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

import polling
from dicompress_api.adapters.database import Database
from dicompress_api.jobs.stream_routes import stream_router
from dicompress_api.settings import ApiSettings
from dicompress_api.web.problems import install_problem_handlers
from dicompress_infra.auth import issue_token, verifier_from_settings
from dicompress_infra.kafka import make_producer, publish
from dicompress_schemas import CompressionRequested, EventBase
from dicompress_schemas.histories import JobHistory
from dicompress_stack.net import free_port
from dicompress_stack.testing import ServiceRunner

pytestmark = pytest.mark.integration

SLICES = 4  # seq 0 requested, 1 started, 2..5 slices, 6 completed
LAST_SEQ = SLICES + 2
HEARTBEAT_S = 0.5
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def history(job_id: uuid.UUID, tenant: str = "acme") -> list[EventBase]:
    """A whole job's events, in seq order, the `seq`-th one `seq` seconds after T0."""
    h = JobHistory(job_id, tenant, start=T0, step=timedelta(seconds=1), total=SLICES)
    h.requested(100, source_uri="s3://in-b/s/")
    h.started()
    for i in range(SLICES):
        h.encoded(i)
    h.completed()
    return [*h.events]


@dataclass
class Message:
    """One SSE message as a client sees it."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)

    @property
    def seq(self) -> int:
        assert self.id is not None
        return int(self.id)

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads("\n".join(self.data))
        return value


@dataclass
class Reader:
    """Parses an SSE body line by line (as EventSource does), keeping comments apart."""

    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    end: Message | None = None
    figures: list[Message] = field(default_factory=list)  # kept apart, like comments

    async def next(self) -> Message | None:
        """The next message, or None when the server ended the stream."""
        message = Message()
        async for line in self.lines:
            if line == "":
                if message.event == "figures":  # no id: the job's figures, not a log event
                    self.figures.append(message)
                    message = Message()
                    continue
                if message.id is not None or message.data:
                    return message
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                self.comments.append(value)
            elif name == "id":
                message.id = value
            elif name == "event":
                message.event = value
            elif name == "data":
                message.data.append(value)
            elif name == "retry":
                self.retry.append(int(value))
        return None

    async def comment(self) -> str:
        """The next comment line, failing if a message comes first."""
        async for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                return self.comments[-1]
            assert line == "", f"a message came before any comment: {line!r}"
        raise AssertionError("the stream ended before any comment")

    async def all(self, within_s: float = 20) -> list[Message]:
        """Every event until the stream's last message, `event: end` (kept as `self.end`),
        after which the server must close the stream; all within `within_s`."""
        got: list[Message] = []
        try:
            async with asyncio.timeout(within_s):
                while (message := await self.next()) is not None:
                    if message.event == "end":
                        self.end = message
                        after = await self.next()
                        assert after is None, f"a message after the end: {after}"
                        return got
                    got.append(message)
        except TimeoutError:
            pytest.fail(f"the stream did not end; got ids {[m.id for m in got]}")
        pytest.fail(f"the stream closed without an end message; got ids {[m.id for m in got]}")


def stream_app(settings: ApiSettings, **options: Any) -> FastAPI:
    """An API app serving the SSE route as `create_app` wires it (its own database pool, problem
    details), with `options` for `stream_router` (e.g. a short heartbeat). Built apart from
    `create_app` so the tests choose those options."""
    database = Database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await database.close()

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    verifier = verifier_from_settings(settings)
    options = {"heartbeat_s": HEARTBEAT_S} | options
    app.include_router(
        stream_router(
            settings.database_url,
            database,
            verifier,
            channel=settings.change_feed_channel,
            **options,
        )
    )
    return app


@contextlib.asynccontextmanager
async def serve_http(app: FastAPI) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free loopback port (real HTTP: streaming as deployed)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await polling.eventually(lambda: server.started or task.done(), "uvicorn to start", 30)
        if task.done():
            task.result()  # why it stopped
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@dataclass
class Live:
    """The live API, a producer to the real topics, and the projection database."""

    base_url: str
    settings: ApiSettings
    producer: AIOKafkaProducer
    db: asyncpg.Connection[Any]

    def token(self, tenant: str = "acme") -> str:
        secret = self.settings.jwt_secret.get_secret_value()
        return issue_token(secret, tenant, self.settings.jwt_audience)

    def headers(self, tenant: str = "acme", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant)}", **extra}

    async def publish(self, events: list[EventBase]) -> None:
        topics = self.settings.topics
        for event in events:
            topic = topics.requests if isinstance(event, CompressionRequested) else topics.events
            await publish(self.producer, topic, event)

    async def projected(self, job_id: uuid.UUID, count: int) -> None:
        """Wait until the progress service has recorded `count` events of the job."""

        async def recorded() -> bool:
            n = await self.db.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job_id)
            return bool(n >= count)

        await polling.eventually(recorded, f"{count} events of {job_id} projected", 30)

    async def listeners(self) -> int:
        """How many connections of this database are listening to the change feed."""
        count: int = await self.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
        )
        return count

    @contextlib.asynccontextmanager
    async def stream(
        self, job_id: uuid.UUID, headers: dict[str, str] | None = None, **params: Any
    ) -> AsyncIterator[tuple[httpx.Response, Reader]]:
        async with (
            httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(10)) as client,
            client.stream(
                "GET", f"/jobs/{job_id}/stream", headers=headers or self.headers(), params=params
            ) as response,
        ):
            yield response, Reader(response.aiter_lines())


@pytest.fixture
def progress(service_runner: ServiceRunner, database: asyncpg.Connection[Any]) -> None:
    """The real progress service, projecting the test's topics into the test's database."""
    service_runner.start("progress", env={"PROGRESS_GROUP_ID": f"p-{uuid.uuid4().hex[:6]}"})


@pytest.fixture
async def live(
    settings: ApiSettings, database: asyncpg.Connection[Any], progress: None
) -> AsyncIterator[Live]:
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        async with serve_http(stream_app(settings)) as base_url:
            yield Live(base_url, settings, producer, database)
    finally:
        await producer.stop()


async def test_events_projected_by_the_progress_service_stream_as_sse(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """One test, two jobs: starting the real progress service costs ~20 s, once is enough."""
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        await finished_job_streams_in_order_resumes_exactly_and_only_for_its_owner(live)
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("access_token=REDACTED" in line for line in access), access
    assert not any("eyJ" in line for line in access)  # no JWT (base64 of '{"') in the log
    await live_events_follow_the_backlog_with_heartbeats_until_the_end(live)


async def finished_job_streams_in_order_resumes_exactly_and_only_for_its_owner(
    live: Live,
) -> None:
    job_id = uuid.uuid4()
    events = history(job_id)
    await live.publish(events)
    await live.projected(job_id, len(events))

    async with live.stream(job_id) as (response, reader):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        messages = await reader.all()  # returns: the server ended the stream at JobCompleted
    assert [m.seq for m in messages] == list(range(LAST_SEQ + 1))
    assert [m.event for m in messages] == [type(e).__name__ for e in events]
    assert messages[0].json()["source_uri"] == "s3://in-b/s/"
    assert messages[-1].json()["event_id"] == str(events[-1].event_id)
    assert reader.retry == [3000]

    # Resume as EventSource does after a drop: exactly the events after the last id seen.
    async with live.stream(job_id, live.headers(**{"Last-Event-ID": "3"})) as (_, reader):
        assert [m.seq for m in await reader.all()] == [4, 5, 6]
    async with live.stream(job_id, since_seq=5) as (_, reader):
        assert [m.seq for m in await reader.all()] == [6]
    resumed = live.headers(**{"Last-Event-ID": "4"})  # the header wins over the URL's since_seq
    async with live.stream(job_id, resumed, since_seq=1) as (_, reader):
        assert [m.seq for m in await reader.all()] == [5, 6]
    async with live.stream(job_id, since_seq=LAST_SEQ) as (_, reader):
        assert await reader.all() == []  # nothing after the terminal event: the end at once
        assert reader.end is not None
        assert reader.end.json()["seq"] == LAST_SEQ

    # EventSource cannot send headers: the token may come in the URL instead.
    async with live.stream(job_id, {}, access_token=live.token(), since_seq=5) as (r, reader):
        assert r.status_code == 200
        assert [m.seq for m in await reader.all()] == [6]

    # Only the owner may stream (another tenant's job is "not found"); a token is required.
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        url = f"/jobs/{job_id}/stream"
        other = await client.get(url, headers=live.headers("globex"))
        unknown = await client.get(f"/jobs/{uuid.uuid4()}/stream", headers=live.headers())
        anonymous = await client.get(url)
        forged = await client.get(url, params={"access_token": "not-a-jwt"})
        bad_resume = await client.get(url, headers=live.headers(**{"Last-Event-ID": "x"}))
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert other.headers["content-type"].startswith("application/problem+json")
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert bad_resume.status_code == 422


async def live_events_follow_the_backlog_with_heartbeats_until_the_end(live: Live) -> None:
    job_id = uuid.uuid4()
    events = history(job_id)
    await live.publish(events[:3])
    await live.projected(job_id, 3)

    async with live.stream(job_id) as (_, reader), live.stream(job_id, since_seq=1) as (_, late):
        backlog = [await reader.next() for _ in range(3)]
        assert [m.seq for m in backlog if m] == [0, 1, 2]
        assert [m.seq for m in [await late.next()] if m] == [2]
        # Nothing new yet: the server keeps the connection alive with comments.
        assert await asyncio.wait_for(reader.comment(), 10 * HEARTBEAT_S) == "keepalive"
        # Both streams wait on the process's one LISTEN connection, not one each.
        assert await live.listeners() == 1

        await live.publish(events[3:])  # the rest of the job happens while we watch
        rest, late_rest = await reader.all(), await late.all()
    assert [m.seq for m in rest] == list(range(3, LAST_SEQ + 1))
    assert [m.seq for m in late_rest] == [m.seq for m in rest]
    assert rest[-1].event == "JobCompleted"
