"""The Postgres store against a real database: migrations, exactly-once effect, all-or-nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from dicompress_progress.errors import ProjectionError
from dicompress_progress.migrate import apply_migrations, load_migrations
from dicompress_progress.store import Delivered, Origin, Outcome, ProjectionStore
from dicompress_schemas import (
    CompressionRequested,
    Event,
    JobCompleted,
    JobStarted,
    SliceEncoded,
)
from dicompress_schemas.histories import JobHistory

pytestmark = pytest.mark.integration


def history(job: uuid.UUID, tenant: str = "acme") -> JobHistory:
    return JobHistory(job, tenant, total=2)


def requested(job: uuid.UUID, tenant: str = "acme") -> CompressionRequested:
    return history(job, tenant).requested(10, source_uri="s3://in-bucket/s/")


def started(job: uuid.UUID, **fields: Any) -> JobStarted:
    return history(job).started(worker="w", **fields)


def encoded(job: uuid.UUID, index: int) -> SliceEncoded:
    return history(job).encoded(index, bytes_in=10, bytes_out=1)


def completed(job: uuid.UUID) -> JobCompleted:
    return history(job).completed(slices_encoded=2, slices_failed=0, bytes_in=20, bytes_out=2)


def batch(*events: Event) -> list[Delivered]:
    return [Delivered(e, Origin("t.compression.events", 0, i)) for i, e in enumerate(events)]


async def test_migrations_apply_once_even_when_raced(test_env: dict[str, str]) -> None:
    conns = [await asyncpg.connect(test_env["DATABASE_URL"]) for _ in range(3)]
    try:
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        assert sorted(results, key=len) == [[], [], [m.version for m in load_migrations()]]
        assert await apply_migrations(conns[0]) == []
        rows = await conns[0].fetch("SELECT version FROM schema_migrations")
        assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    finally:
        for conn in conns:
            await conn.close()


async def test_redelivered_events_change_nothing(pool: asyncpg.Pool) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    first = await store.record(batch(started(job), encoded(job, 0), encoded(job, 1)))
    assert first == [Outcome.APPLIED] * 3
    row = await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)
    assert row is not None

    again = await store.record(batch(encoded(job, 0), started(job), encoded(job, 1)))
    assert again == [Outcome.DUPLICATE] * 3
    assert await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job) == row
    assert (row["slices_done"], row["bytes_in"], row["bytes_out"]) == (2, 20, 2)
    assert await pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job) == 3


async def test_request_after_start_fills_in_and_tracking_rows_keep_origin(
    pool: asyncpg.Pool,
) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    await store.record(batch(started(job)))
    running = await pool.fetchrow("SELECT status, source_uri FROM jobs WHERE job_id = $1", job)
    assert running is not None
    assert (running["status"], running["source_uri"]) == ("running", None)

    request = requested(job)
    await store.record([Delivered(request, Origin("t.compression.requests", 3, 17))])
    row = await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)
    assert row is not None
    assert (row["status"], row["source_uri"], row["tenant"]) == (
        "running",
        "s3://in-bucket/s/",
        "acme",
    )
    assert row["requested_at"] == request.occurred_at
    tracking = await pool.fetchrow(
        'SELECT type, topic, partition, "offset", payload FROM job_events '
        "WHERE job_id = $1 AND seq = 0",
        job,
    )
    assert tracking is not None
    assert (tracking["type"], tracking["topic"], tracking["partition"], tracking["offset"]) == (
        "CompressionRequested",
        "t.compression.requests",
        3,
        17,
    )
    assert json.loads(tracking["payload"])["compression_rate"] == 10


async def test_late_slice_after_completion_is_recorded_but_changes_no_count(
    pool: asyncpg.Pool,
) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    await store.record(batch(requested(job), started(job), encoded(job, 0), completed(job)))
    (outcome,) = await store.record(batch(encoded(job, 1)))
    assert outcome is Outcome.LATE
    row = await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)
    assert row is not None
    assert (row["status"], row["slices_done"], row["bytes_in"]) == ("completed", 2, 20)
    assert await pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job) == 5


async def test_another_event_with_a_taken_seq_is_ignored(pool: asyncpg.Pool) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    await store.record(batch(started(job)))
    rerun = started(job, attempt=2)  # another run's JobStarted: another event id, seq 1
    assert await store.record(batch(rerun)) == [Outcome.SEQ_TAKEN]


async def test_a_batch_is_all_or_nothing(pool: asyncpg.Pool) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    with pytest.raises(ProjectionError):
        await store.record(batch(started(job), requested(job, tenant="intruder")))
    assert await pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job) == 0
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE job_id = $1", job) == 0


async def test_concurrent_first_events_of_one_job_both_count(pool: asyncpg.Pool) -> None:
    # Two workers may see a job's first events at once (requests vs events topic); the per-job
    # lock makes the second wait for the first's row instead of overwriting it.
    for _ in range(5):
        store, job = ProjectionStore(pool), uuid.uuid4()
        await asyncio.gather(store.record(batch(requested(job))), store.record(batch(started(job))))
        row = await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)
        assert row is not None
        assert (row["status"], row["source_uri"], row["worker"]) == (
            "running",
            "s3://in-bucket/s/",
            "w",
        )
