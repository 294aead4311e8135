"""The real worker (`python -m dicompress_progress worker`) against real Kafka and Postgres."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from progress_harness import healthy, tail, wait_for, worker

from dicompress_infra.kafka import publish
from dicompress_progress.migrate import apply_migrations
from dicompress_progress.settings import ProgressSettings
from dicompress_schemas import Topics, event_key
from dicompress_schemas.histories import JobHistory
from dicompress_stack.net import free_port
from metrics_scrape import scrape

pytestmark = pytest.mark.integration

JOB = uuid.uuid4()
TENANT = "acme"


HISTORY = JobHistory(JOB, TENANT, total=3)
REQUESTED = HISTORY.requested(
    20, source_uri="s3://in-bucket/series/", target_uri="s3://out-bucket/zips/"
)
STARTED = HISTORY.started(total_bytes=3000, worker="compressor-1")
SLICES = [HISTORY.encoded(i, bytes_in=1000, bytes_out=50 + i) for i in range(3)]
# the sums of the slices: 3 encoded, 3000 bytes in, 153 out
COMPLETED = HISTORY.completed(
    ratio=19.6, artifact_uri="s3://out-bucket/zips/job.zip", artifact_bytes=400
)


@pytest.fixture
async def db(test_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        yield conn
    finally:
        await conn.close()


async def dead_letters(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Read the dead-letter topic from the start until `expected` records are there."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 30
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def job_row(db: asyncpg.Connection, job: uuid.UUID = JOB) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)


async def test_worker_projects_a_job_exactly_once_and_survives_garbage(
    test_env: dict[str, str],
    settings_for: Callable[..., ProgressSettings],
    tmp_path: Path,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
) -> None:
    topics: Topics = settings_for(ProgressSettings).topics
    bootstrap = test_env["KAFKA_BOOTSTRAP_SERVERS"]
    port = free_port()
    with worker(test_env, tmp_path, f"progress-{uuid.uuid4().hex[:8]}", port) as (proc, log):
        await healthy(proc, port, log)

        # The job's JobStarted is read before its CompressionRequested.
        await publish(producer, topics.events, STARTED)
        running = await wait_for(lambda: job_row(db), "the JobStarted row", logs=log)
        assert (running["status"], running["source_uri"]) == ("running", None)
        await publish(producer, topics.requests, REQUESTED)

        async def request_applied() -> bool:
            row = await job_row(db)
            return row is not None and row["source_uri"] is not None

        await wait_for(request_applied, "the request fields", logs=log)

        # Three slices, the second delivered twice, then garbage with the job's key: it lands
        # on the same partition, after the slices, so once it is dead-lettered they are done.
        for event in (SLICES[0], SLICES[1], SLICES[1], SLICES[2]):
            await publish(producer, topics.events, event)
        await producer.send_and_wait(topics.events, b"\xffnot an event", key=event_key(STARTED))
        (parked,) = await dead_letters(bootstrap, topics.dead_letter, expected=1)
        headers = dict(parked.headers)
        assert parked.value == b"\xffnot an event"
        assert b"not JSON" in headers["reason"]
        assert headers["origin"].decode().startswith(f"{topics.events}/")

        row = await job_row(db)
        assert row is not None
        assert (row["status"], row["slices_done"], row["slices_total"]) == ("running", 3, 3)
        assert (row["bytes_in"], row["bytes_out"]) == (3000, 50 + 51 + 52)

        # Processing goes on after the dead letter.
        await publish(producer, topics.events, COMPLETED)

        async def completed() -> bool:
            row = await job_row(db)
            return row is not None and row["status"] == "completed"

        await wait_for(completed, "the job to complete", logs=log)

        async def counted() -> dict[str, float]:
            # counted just after the ack, which may come after the row is visible
            samples = await scrape(f"http://127.0.0.1:{port}/metrics")
            done = samples.get("dicompress_progress_events_total,outcome=applied,type=JobCompleted")
            return samples if done == 1 else {}

        samples = await wait_for(counted, "the completed job in /metrics", logs=log)
        assert samples["dicompress_progress_events_total,outcome=applied,type=SliceEncoded"] == 3
        assert samples["dicompress_progress_events_total,outcome=duplicate,type=SliceEncoded"] == 1
        assert samples["dicompress_progress_events_total,outcome=dead-lettered,type=unknown"] == 1
        assert samples["dicompress_progress_batch_size_count"] >= 1
        assert samples["dicompress_progress_last_applied_timestamp_seconds"] > 0
        lags = [v for k, v in samples.items() if k.startswith("dicompress_progress_consumer_lag,")]
        assert lags
        assert all(lag >= 0 for lag in lags)

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, tail(log)

    done = await job_row(db)
    assert done is not None
    assert (done["tenant"], done["status"], done["worker"]) == (TENANT, "completed", "compressor-1")
    assert (done["slices_total"], done["slices_done"], done["slices_failed"]) == (3, 3, 0)
    assert (done["bytes_in"], done["bytes_out"], done["ratio"]) == (3000, 153, 19.6)
    assert (done["artifact_uri"], done["artifact_bytes"]) == ("s3://out-bucket/zips/job.zip", 400)
    assert (done["compression_rate"], done["last_seq"]) == (20, 5)
    assert done["requested_at"] == REQUESTED.occurred_at
    # Six distinct events: request, start, three slices (one of them delivered twice), the end.
    events = await db.fetch("SELECT seq, type FROM job_events WHERE job_id = $1 ORDER BY seq", JOB)
    assert [(e["seq"], e["type"]) for e in events] == [
        (0, "CompressionRequested"),
        (1, "JobStarted"),
        (2, "SliceEncoded"),
        (3, "SliceEncoded"),
        (4, "SliceEncoded"),
        (5, "JobCompleted"),
    ]

    # A new consumer group replays both topics from the start: nothing may change.
    with worker(test_env, tmp_path, f"replay-{uuid.uuid4().hex[:8]}", free_port()) as (_, log):
        # Sentinels keyed like the job follow its events on both topics' partitions.
        key = event_key(STARTED)
        await producer.send_and_wait(topics.requests, b"sentinel", key=key)
        await producer.send_and_wait(topics.events, b"sentinel", key=key)
        parked_all = await dead_letters(bootstrap, topics.dead_letter, expected=4)
        assert len(parked_all) == 4, tail(log)  # garbage again + two sentinels
    assert await job_row(db) == done
    assert await db.fetchval("SELECT count(*) FROM job_events") == 6


async def test_an_event_failing_at_shutdown_is_not_committed_and_is_applied_later(
    test_env: dict[str, str],
    settings_for: Callable[..., ProgressSettings],
    tmp_path: Path,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
) -> None:
    topics: Topics = settings_for(ProgressSettings).topics
    job = uuid.uuid4()
    event = JobHistory(job, TENANT).started(total=1, worker="w")
    group, port = f"outage-{uuid.uuid4().hex[:8]}", free_port()
    # The projection table goes away (as in a botched deploy): every attempt fails, and the
    # worker keeps retrying (logging each failure) instead of skipping the event.
    await apply_migrations(db)
    await db.execute("ALTER TABLE jobs RENAME TO jobs_away")
    try:
        with worker(test_env, tmp_path, group, port) as (proc, log):
            await healthy(proc, port, log)
            await publish(producer, topics.events, event)

            async def failing_again() -> bool:
                text = await asyncio.to_thread(log.read_text, errors="replace")
                return text.count("recording the event failed; retrying") >= 2 and str(job) in text

            await wait_for(failing_again, "the worker to retry the failing event", logs=log)
            # Stopped in the middle of retrying: a clean exit that commits nothing for it.
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0, tail(log)
    finally:
        await db.execute("ALTER TABLE jobs_away RENAME TO jobs")

    # The same consumer group again: the event was never acknowledged, so it comes back.
    with worker(test_env, tmp_path, group, port) as (proc, log):
        row = await wait_for(lambda: job_row(db, job), "the event to be applied", logs=log)
        assert (row["status"], row["worker"]) == ("running", "w")
    assert await db.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job) == 1
