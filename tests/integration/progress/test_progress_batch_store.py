"""The batched store against real Postgres: slice rows, commands, the change feed, batching."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from dicompress_progress.errors import ProjectionError
from dicompress_progress.store import Delivered, Origin, Outcome, ProjectionStore
from dicompress_schemas import (
    CancelRequested,
    Event,
    JobCompleted,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    changefeed,
)
from dicompress_schemas.histories import JobHistory

pytestmark = pytest.mark.integration


def history(job: uuid.UUID, total: int = 3) -> JobHistory:
    return JobHistory(job, "acme", total=total)


def started(job: uuid.UUID, total: int = 3, **fields: Any) -> JobStarted:
    return history(job, total).started(**fields)


def encoded(job: uuid.UUID, index: int, total: int = 3) -> SliceEncoded:
    return history(job, total).encoded(
        index,
        bytes_in=10,
        bytes_out=1,
        slice_key=f"z/{job}/{index}.dcm",
        psnr_db=47.25,
        max_error_hu=1.5,
        max_abs_error=3,
    )


def failed(job: uuid.UUID, index: int, total: int = 3) -> SliceFailed:
    return history(job, total).slice_failed(index, reason="no pixels", error_code="no-pixel-data")


def completed(job: uuid.UUID, seq: int = 5) -> JobCompleted:
    return history(job).completed(
        seq=seq, slices_encoded=2, slices_failed=1, bytes_in=20, bytes_out=2, cpu_s=0.5
    )


def deliver(*items: Event | CancelRequested) -> list[Delivered]:
    return [Delivered(e, Origin("t.compression.events", 0, i)) for i, e in enumerate(items)]


async def test_one_batch_of_many_jobs_with_in_batch_duplicates(pool: asyncpg.Pool) -> None:
    store, a, b = ProjectionStore(pool), uuid.uuid4(), uuid.uuid4()
    rerun = started(b, attempt=2)  # another run's JobStarted: another event id, seq 1
    outcomes = await store.record(
        deliver(started(a), encoded(a, 0), started(b), encoded(a, 0), rerun, failed(a, 1))
    )
    assert outcomes == [
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,  # the same event twice in one batch
        Outcome.SEQ_TAKEN,  # another attempt's event with a taken seq
        Outcome.APPLIED,
    ]
    row = await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", a)
    assert row is not None
    assert (row["slices_done"], row["slices_failed"], row["bytes_in"]) == (1, 1, 10)
    slices = await pool.fetch(
        "SELECT slice_index, status, slice_key, psnr_db, max_error_hu, max_abs_error, error_code "
        "FROM job_slices WHERE job_id = $1 ORDER BY slice_index",
        a,
    )
    assert [tuple(s) for s in slices] == [
        (0, "encoded", f"z/{a}/0.dcm", 47.25, 1.5, 3, None),
        (1, "failed", None, None, None, None, "no-pixel-data"),
    ]
    assert await store.record(deliver(encoded(a, 0))) == [Outcome.DUPLICATE]
    assert await pool.fetchval("SELECT count(*) FROM job_slices WHERE job_id = $1", a) == 2


async def test_a_late_slice_is_refused_counted_and_adds_no_slice_row(pool: asyncpg.Pool) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    await store.record(deliver(started(job), encoded(job, 0), completed(job, seq=4)))
    assert await store.record(deliver(encoded(job, 1))) == [Outcome.LATE]
    row = await pool.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)
    assert row is not None
    assert (row["status"], row["refused_events"], row["cpu_s"]) == ("completed", 1, 0.5)
    assert await pool.fetchval("SELECT count(*) FROM job_slices WHERE job_id = $1", job) == 1


async def test_commands_are_recorded_once_for_the_audit_trail(pool: asyncpg.Pool) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    cancel = CancelRequested(job_id=job, tenant="acme", reason="wrong series")
    origin = Origin("t.compression.control", 0, 9)
    assert await store.record([Delivered(cancel, origin)]) == [Outcome.APPLIED]
    assert await store.record([Delivered(cancel, origin)]) == [Outcome.DUPLICATE]
    rows = await pool.fetch("SELECT * FROM job_commands WHERE job_id = $1", job)
    assert [(r["type"], r["tenant"], r["offset"]) for r in rows] == [("CancelRequested", "acme", 9)]


async def test_the_change_feed_notifies_committed_batches_only(
    pool: asyncpg.Pool, test_env: dict[str, str]
) -> None:
    store, job = ProjectionStore(pool), uuid.uuid4()
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    listener = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        await listener.add_listener(
            changefeed.CHANNEL, lambda *args: heard.put_nowait(orjson.loads(args[-1]))
        )
        # Refused as a whole (another tenant): rolled back, so nothing may be notified.
        intruder = encoded(job, 1).model_copy(update={"tenant": "intruder"})
        with pytest.raises(ProjectionError):
            await store.record(deliver(started(job), intruder))
        await store.record(deliver(started(job), encoded(job, 0), encoded(job, 1)))
        snapshot = await asyncio.wait_for(heard.get(), timeout=30)
        assert snapshot["job_id"] == str(job)
        # One notification per job per batch, with the state after the whole batch.
        assert (snapshot["status"], snapshot["slices_done"], snapshot["last_seq"]) == (
            "running",
            2,
            3,
        )
        assert heard.empty()
    finally:
        await listener.close()
