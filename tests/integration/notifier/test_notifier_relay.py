"""The notifier against real Kafka and Postgres: ordering, late subscribers, tenancy, auth."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from dicompress_infra.auth import issue_token
from dicompress_infra.kafka import make_producer, publish
from dicompress_notifier.app import serve_notifier
from dicompress_notifier.settings import NotifierSettings
from dicompress_notifier.subscription import Timing
from dicompress_progress.migrate import apply_migrations
from dicompress_schemas import (
    CompressionRequested,
    EventBase,
    JobCompleted,
    JobStarted,
    SliceEncoded,
    encode_event,
    new_event_id,
)
from dicompress_stack.net import free_port
from metrics_scrape import scrape

pytestmark = pytest.mark.integration

SLICES = 5  # events: seq 0 (requested), 1 (started), 2..6 (slices), 7 (completed)
LAST_SEQ = SLICES + 2


def job_events(job_id: uuid.UUID, tenant: str) -> list[EventBase]:
    def ids(seq: int) -> dict[str, Any]:
        return {"event_id": new_event_id(job_id, seq), "job_id": job_id, "tenant": tenant}

    events: list[EventBase] = [
        CompressionRequested(
            **ids(0),
            seq=0,
            source_uri="s3://bucket-in/series/",
            target_uri="s3://bucket-out/zips/",
            compression_rate=100,
        ),
        JobStarted(**ids(1), seq=1, total_slices=SLICES, total_bytes=SLICES * 1000, worker="w"),
    ]
    for i in range(SLICES):
        events.append(
            SliceEncoded(
                **ids(2 + i),
                seq=2 + i,
                slice_index=i,
                total_slices=SLICES,
                source_key=f"series/{i}.dcm",
                entry_name=f"{i}.dcm",
                bytes_in=1000,
                bytes_out=50,
                ratio=100.0,
                encode_ms=40.0,
            )
        )
    events.append(
        JobCompleted(
            **ids(LAST_SEQ),
            seq=LAST_SEQ,
            slices_encoded=SLICES,
            slices_failed=0,
            bytes_in=SLICES * 1000,
            bytes_out=SLICES * 50,
            ratio=100.0,
            artifact_uri=f"s3://bucket-out/zips/{job_id}.zip",
            artifact_bytes=SLICES * 50,
            download_ms=1,
            encode_ms=200,
            upload_ms=1,
            wall_ms=250,
        )
    )
    return events


@dataclass
class Notifier:
    settings: NotifierSettings
    producer: AIOKafkaProducer
    db: asyncpg.Connection

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.notifier_port}/ws"

    def token(self, tenant: str) -> str:
        secret = self.settings.jwt_secret.get_secret_value()
        return issue_token(secret, tenant, self.settings.jwt_audience)

    def connect(self, tenant: str) -> Any:
        return connect(
            self.url, additional_headers={"Authorization": f"Bearer {self.token(tenant)}"}
        )

    async def publish(self, events: list[EventBase]) -> None:
        topics = self.settings.topics
        for event in events:
            topic = topics.requests if isinstance(event, CompressionRequested) else topics.events
            await publish(self.producer, topic, event)

    async def project(self, events: list[EventBase]) -> None:
        """Write what the progress service would have written."""
        first = events[0]
        await self.db.execute(
            "INSERT INTO jobs (job_id, tenant, status) VALUES ($1, $2, 'running')"
            " ON CONFLICT DO NOTHING",
            first.job_id,
            first.tenant,
        )
        await self.db.executemany(
            "INSERT INTO job_events (job_id, seq, event_id, type, occurred_at, payload)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            [
                (
                    e.job_id,
                    e.seq,
                    e.event_id,
                    type(e).__name__,
                    e.occurred_at,
                    encode_event(e).decode(),
                )
                for e in events
            ],
        )


StartNotifier = Callable[[], contextlib.AbstractAsyncContextManager[Notifier]]


@pytest.fixture
async def start_notifier(settings_for: Any) -> AsyncIterator[StartNotifier]:
    """Starts the notifier in-process (call it after publishing, to test the warm-up)."""
    settings: NotifierSettings = settings_for(NotifierSettings, notifier_port=free_port())
    db = await asyncpg.connect(settings.database_url)
    await apply_migrations(db)
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[Notifier]:
        stop = asyncio.Event()
        timing = Timing(poll_first_s=0.3, poll_max_s=1.0, give_up_s=5.0)
        task = asyncio.create_task(serve_notifier(settings, stop, timing))
        try:
            await _until_healthy(settings.notifier_port, task)
            yield Notifier(settings, producer, db)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        yield start
    finally:
        await producer.stop()
        await db.close()


async def _until_healthy(port: int, task: asyncio.Task[Any]) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while True:
            if task.done():
                task.result()  # raises why the notifier stopped
                raise AssertionError("notifier stopped before it was healthy")
            with contextlib.suppress(httpx.TransportError):
                answer = await http.get(f"http://127.0.0.1:{port}/healthz")
                if answer.status_code == 200:
                    return
            await asyncio.sleep(0.05)


async def frames_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], within_s: float = 15
) -> list[dict[str, Any]]:
    """Frames received until (and with) the first one `done` accepts."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(within_s):
        while not got or not done(got[-1]):
            got.append(orjson.loads(await ws.recv()))
    return got


def is_end(frame: dict[str, Any]) -> bool:
    return frame["op"] == "event" and frame["event"]["type"] == "JobCompleted"


def is_error(frame: dict[str, Any]) -> bool:
    return frame["op"] == "error"


async def subscribe(ws: ClientConnection, job_id: uuid.UUID, **extra: Any) -> None:
    await ws.send(orjson.dumps({"op": "subscribe", "job_id": str(job_id), **extra}).decode())
    assert orjson.loads(await ws.recv()) == {"op": "subscribed", "job_id": str(job_id)}


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    assert all(f["op"] == "event" for f in frames), frames
    assert all(f["seq"] == f["event"]["seq"] for f in frames)
    return [f["seq"] for f in frames]


async def assert_silent(ws: ClientConnection, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def test_a_subscriber_waiting_for_a_job_gets_all_of_it_in_order(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await subscribe(ws, job)
        events = job_events(job, "acme")
        await notifier.publish(events)
        frames = await frames_until(ws, is_end)
        assert seqs(frames) == list(range(LAST_SEQ + 1))
        assert [f["event"] for f in frames] == [e.model_dump(mode="json") for e in events]
        await assert_silent(ws)
        samples = await scrape(f"http://127.0.0.1:{notifier.settings.notifier_port}/metrics")
        assert samples["dicompress_notifier_connections"] == 1
        assert samples["dicompress_notifier_subscriptions"] == 0  # ended with the job
        # 'subscribed' + the job's events (+ 'ended' if the protocol sends one)
        assert samples["dicompress_notifier_frames_sent_total"] >= len(frames) + 1
        assert samples["dicompress_notifier_events_relayed_total"] >= len(events)
        assert samples["dicompress_notifier_slow_client_disconnects_total"] == 0


async def test_late_subscribers_get_exactly_what_they_lack_from_the_warm_cache(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier:
        await notifier.publish(job_events(job, "acme"))
    # a fresh instance must find the finished job by rewinding Kafka (nothing in Postgres)
    async with start_notifier() as notifier:
        async with connect(f"{notifier.url}?token={notifier.token('acme')}") as ws:
            await subscribe(ws, job)
            assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))
            await assert_silent(ws)
        async with notifier.connect("acme") as ws:
            await subscribe(ws, job, since_seq=3)
            assert seqs(await frames_until(ws, is_end)) == list(range(4, LAST_SEQ + 1))
            await subscribe(ws, job, since_seq=LAST_SEQ)  # has it all: nothing comes
            await assert_silent(ws)


async def test_history_missing_from_the_cache_comes_from_postgres(
    start_notifier: StartNotifier,
) -> None:
    old, split = uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier:
        # `old` predates the window: only the projection has it
        await notifier.project(job_events(old, "acme"))
        # `split`: its head only in Postgres, the rest arrives on Kafka
        events = job_events(split, "acme")
        await notifier.project(events[:3])
        async with notifier.connect("acme") as ws:
            await subscribe(ws, old, since_seq=1)
            assert seqs(await frames_until(ws, is_end)) == list(range(2, LAST_SEQ + 1))
            await notifier.publish(events[3:])
            # once a subscriber from seq 3 on has it all, the cache holds 3.. for sure
            await subscribe(ws, split, since_seq=2)
            assert seqs(await frames_until(ws, is_end)) == list(range(3, LAST_SEQ + 1))
            await subscribe(ws, split)
            assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))


async def test_another_tenant_gets_no_event_and_not_found(start_notifier: StartNotifier) -> None:
    live, projected = uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("intruder") as ws:
        await subscribe(ws, live)  # not known yet: accepted, and nothing comes
        await assert_silent(ws, 0.3)
        await notifier.publish(job_events(live, "acme"))
        frames = await frames_until(ws, is_error)
        assert frames == [
            {"op": "error", "code": "not-found", "message": f"no job {live}", "job_id": str(live)}
        ]
        await notifier.project(job_events(projected, "acme"))
        await subscribe(ws, projected)
        assert (await frames_until(ws, is_error))[0]["code"] == "not-found"
        await assert_silent(ws)


async def test_connections_without_a_valid_token_are_refused_with_401(
    start_notifier: StartNotifier,
) -> None:
    async with start_notifier() as notifier:
        forged = issue_token("not-the-secret-0123456789abcdef-0123", "acme", "dicompress")
        for url, headers in [
            (notifier.url, {}),
            (notifier.url, {"Authorization": f"Bearer {forged}"}),
            (f"{notifier.url}?token={forged}", {}),
            (f"{notifier.url}?token=", {}),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401


async def test_a_malformed_frame_gets_an_error_and_the_connection_stays_usable(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        for bad, code in [
            ("{not json", "bad-frame"),
            ('{"op": "dance"}', "unknown-op"),
            ('{"op": "subscribe", "job_id": "12345"}', "bad-frame"),
            (orjson.dumps({"op": "subscribe", "job_id": str(job), "since_seq": "x"}), "bad-frame"),
        ]:
            await ws.send(bad)
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (frame["op"], frame["code"]) == ("error", code)
        await subscribe(ws, job)
        await notifier.publish(job_events(job, "acme"))
        assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))


async def test_the_service_runs_as_a_module_and_stops_cleanly_on_sigterm(
    test_env: dict[str, str],
) -> None:
    port = free_port()
    env = {**os.environ, **test_env, "NOTIFIER_PORT": str(port), "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dicompress_notifier", env=env
    )
    try:
        waiting = asyncio.create_task(process.wait())
        await _until_healthy(port, waiting)
        token = issue_token(
            test_env["JWT_SECRET"], "acme", test_env.get("JWT_AUDIENCE", "dicompress")
        )
        async with connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
            await subscribe(ws, uuid.uuid4())
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(waiting, 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
