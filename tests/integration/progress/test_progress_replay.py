"""Replay equals live: after redeliveries, duplicates, garbage, a poison event and a kill -9 of
the worker mid-stream, the projection rebuilt from the log matches the live one row for row;
the swap then puts it in place under a running worker, which goes on projecting into it."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from progress_harness import healthy, wait_for, worker

from dicompress_progress.replay import STUDY_INDEX, check, rebuild_and_swap
from dicompress_progress.settings import ProgressSettings
from dicompress_schemas import (
    CancelRequested,
    CompressionRequested,
    Event,
    JobStarted,
    SliceEncoded,
    Topics,
    encode_command,
    encode_event,
    event_key,
)
from dicompress_schemas.histories import JobHistory
from dicompress_stack.net import free_port

pytestmark = pytest.mark.integration

JOBS, SLICES = 24, 30
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job_events(job: uuid.UUID, tenant: str = "acme") -> list[Event]:
    """A whole job: request, start, SLICES slices (every 10th fails), completion."""
    h = JobHistory(job, tenant, start=T0, step=timedelta(milliseconds=50), total=SLICES)
    h.requested(20)
    h.started(worker="c-1")
    for i in range(SLICES):
        if i % 10 == 9:
            h.slice_failed(i)
        else:
            h.encoded(i, bytes_out=40 + i, max_abs_error=i)  # rows that differ
    h.completed(ratio=19.0)
    return h.events


async def send(producer: AIOKafkaProducer, topics: Topics, event: Event) -> None:
    topic = topics.requests if isinstance(event, CompressionRequested) else topics.events
    await producer.send(topic, encode_event(event), key=event_key(event))


async def test_replay_equals_live_after_redeliveries_and_a_kill_9(
    test_env: dict[str, str],
    settings_for: Callable[..., ProgressSettings],
    tmp_path: Path,
    producer: AIOKafkaProducer,
) -> None:
    settings: ProgressSettings = settings_for(ProgressSettings)
    topics = settings.topics
    jobs = [uuid.uuid4() for _ in range(JOBS)]
    streams = [job_events(job) for job in jobs]
    # Jobs interleaved, as several compressors would produce them; every 7th event twice.
    mixed = [s[i] for i in range(len(streams[0])) for s in streams]
    mixed = [e for n, e in enumerate(mixed) for _ in range(2 if n % 7 == 0 else 1)]
    late = SliceEncoded(**{**streams[0][2].model_dump(), "seq": 500, "event_id": uuid.uuid4()})
    poison = JobStarted(**{**streams[1][1].model_dump(), "seq": 600, "tenant": "intruder",
                           "event_id": uuid.uuid4()})  # fmt: skip
    expected_events = JOBS * len(streams[0]) + 1  # + the late slice (recorded, refused)

    db = await asyncpg.connect(test_env["DATABASE_URL"])
    group, port = f"live-{uuid.uuid4().hex[:8]}", free_port()

    async def recorded() -> int:
        try:
            count: int = await db.fetchval("SELECT count(*) FROM job_events")
        except asyncpg.UndefinedTableError:
            return 0
        return count

    killed = asyncio.Event()

    async def produce() -> None:
        for n in range(0, len(mixed), 40):
            for event in mixed[n : n + 40]:
                await send(producer, topics, event)
            await producer.flush()
            if n >= len(mixed) // 2 and not killed.is_set():
                # Half the stream is out: the rest follows the kill, so the worker dies with
                # events in flight and more to come, whatever the machine's speed.
                await asyncio.wait_for(killed.wait(), timeout=120)
            await asyncio.sleep(0.02)  # pacing: a stream, not one burst
        for event in (late, poison):
            await send(producer, topics, event)
        await producer.send(topics.events, b"\xffgarbage", key=event_key(late))
        cancel = CancelRequested(job_id=jobs[3], tenant="acme", reason="wrong series")
        await producer.send(topics.control, encode_command(cancel), key=event_key(cancel))
        await producer.flush()

    try:
        with worker(test_env, tmp_path, group, port) as (proc, log):
            await healthy(proc, port, log)
            producing = asyncio.create_task(produce())

            async def some_recorded() -> bool:
                return await recorded() >= 100

            await wait_for(some_recorded, "the first events to be recorded", 60, log)
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 30)
            killed.set()
            assert await recorded() < expected_events
        with worker(test_env, tmp_path, group, free_port()) as (proc, log):
            await producing

            async def all_recorded() -> bool:
                done = await db.fetchval("SELECT count(*) FROM job_commands")
                return await recorded() == expected_events and done == 1

            await wait_for(all_recorded, f"{expected_events} events and the command", 120, log)

            async def both_dead_lettered() -> bool:
                # The garbage goes at once; the poison after its retries, maybe after the rest.
                text = await asyncio.to_thread(log.read_text, errors="replace")
                lines = [line for line in text.splitlines() if "dead-lettered message" in line]
                return any("intruder" in line for line in lines) and any(
                    "not JSON" in line for line in lines
                )

            await wait_for(both_dead_lettered, "the garbage and the poison dead-lettered", 60, log)

            # Exact counts, although events were duplicated and redelivered after the kill.
            rows = await db.fetch("SELECT * FROM jobs ORDER BY job_id")
            assert len(rows) == JOBS
            for row in rows:
                assert row["status"] == "completed"
                assert (row["slices_done"], row["slices_failed"]) == (SLICES - 3, 3)
                refused = 1 if row["job_id"] == jobs[0] else 0
                assert row["refused_events"] == refused
            assert await db.fetchval("SELECT count(*) FROM job_slices") == JOBS * SLICES

            report = await check(settings)
            assert report.diffs, report.render()
            assert report.equal, report.render()
            assert {d.table: d.rebuilt_rows for d in report.diffs} == {
                "jobs": JOBS,
                "job_events": expected_events,
                "job_slices": JOBS * SLICES,
                "job_commands": 1,
                # no product in this log: its tables are rebuilt empty, and equal
                "products": 0,
                "product_images": 0,
                # no upload in this log: the study index is rebuilt empty, and equal
                **dict.fromkeys(STUDY_INDEX, 0),
            }
            assert report.skipped == 2  # the garbage and the poison event

            swapped = await rebuild_and_swap(settings)
            assert swapped.equal, swapped.render()
            assert swapped.replaced_schema is not None
            # The running worker goes on projecting, into the swapped-in tables.
            extra = uuid.uuid4()
            for event in job_events(extra):
                await send(producer, topics, event)
            await producer.flush()

            async def extra_done() -> bool:
                status = await db.fetchval("SELECT status FROM jobs WHERE job_id = $1", extra)
                return status == "completed"

            await wait_for(extra_done, "a job after the swap", 60, log)
            old = await db.fetchval(
                f"SELECT count(*) FROM {swapped.replaced_schema}.jobs"  # noqa: S608 -- ours
            )
            assert old == JOBS
    finally:
        await db.close()
