"""Version 1 events on the log (issue 17 item 6): a job written with CompressionRequested v1 and
SliceEncoded v1 is projected live by the real worker, replays to the same projection, and its
rows equal those of the same job written as the version 2 reading the upcasters define."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from progress_harness import healthy, wait_for, worker

from dicompress_progress.replay import check
from dicompress_progress.settings import ProgressSettings
from dicompress_schemas import CompressionRequested, Event, SliceEncoded, encode_event, event_key
from dicompress_schemas.histories import JobHistory
from dicompress_stack.net import free_port

pytestmark = pytest.mark.integration


def history(job: uuid.UUID) -> list[Event]:
    """A job as version 2 reads its v1 log: no range PSNR or HU error known, the same floor."""
    h = JobHistory(job, "acme", total=4)
    h.requested(20, min_psnr_db=40.0)
    h.started()
    for index in range(4):
        if index == 2:
            h.slice_failed(index, error_code="below-quality-floor")
        else:
            h.encoded(
                index,
                psnr_db=None,
                max_error_hu=None,
                max_abs_error=10 + index,
                slice_key=f"acme/out/{index}.dcm",  # the same in both jobs, unlike the default
                sop_instance_uid=f"1.2.826.0.1.{index}",
            )
    h.completed()
    return h.events


def as_written_in_v1(event: Event) -> bytes:
    """The bytes a version 1 producer put on the log for `event` (legacy.py's shapes)."""
    raw: dict[str, Any] = orjson.loads(encode_event(event))
    if isinstance(event, SliceEncoded):
        raw = {k: v for k, v in raw.items() if k not in ("psnr_db", "max_error_hu")}
        raw |= {"version": 1, "psnr": 47.92}  # dB against 2**BitsStored - 1
    elif isinstance(event, CompressionRequested):
        raw = {k: v for k, v in raw.items() if k != "min_psnr_db"}
        raw |= {"version": 1, "min_psnr": event.min_psnr_db}
    return orjson.dumps(raw)


_NOT_COMPARED = {"job_id", "updated_at"}  # the job's own id; when the row was written


def _same_job(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in _NOT_COMPARED}


async def test_a_v1_log_projects_and_replays_as_its_v2_reading(
    test_env: dict[str, str],
    settings_for: Callable[..., ProgressSettings],
    tmp_path: Path,
    producer: AIOKafkaProducer,
) -> None:
    settings: ProgressSettings = settings_for(ProgressSettings)
    topics = settings.topics
    old_job, new_job = uuid.uuid4(), uuid.uuid4()

    async def send(event: Event, payload: bytes) -> None:
        topic = topics.requests if isinstance(event, CompressionRequested) else topics.events
        await producer.send(topic, payload, key=event_key(event))

    for event in history(old_job):
        await send(event, as_written_in_v1(event))
    for event in history(new_job):
        await send(event, encode_event(event))
    await producer.flush()

    db = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        group, port = f"upcast-{uuid.uuid4().hex[:8]}", free_port()
        with worker(test_env, tmp_path, group, port) as (proc, log):
            await healthy(proc, port, log)

            async def both_completed() -> bool:
                try:
                    statuses = await db.fetch(
                        "SELECT status FROM jobs WHERE job_id = ANY($1::uuid[])",
                        [old_job, new_job],
                    )
                except asyncpg.UndefinedTableError:
                    return False
                return [r["status"] for r in statuses] == ["completed", "completed"]

            await wait_for(both_completed, "both jobs projected", 120, log)

            old_row = await db.fetchrow("SELECT * FROM jobs WHERE job_id = $1", old_job)
            new_row = await db.fetchrow("SELECT * FROM jobs WHERE job_id = $1", new_job)
            assert old_row is not None
            assert new_row is not None
            assert _same_job(old_row) == _same_job(new_row)
            slices = "SELECT * FROM job_slices WHERE job_id = $1 ORDER BY slice_index"
            old_slices = [_same_job(r) for r in await db.fetch(slices, old_job)]
            assert old_slices == [_same_job(r) for r in await db.fetch(slices, new_job)]
            assert {r["psnr_db"] for r in old_slices} == {None}  # v1's figure is not passed off

            report = await check(settings)
            assert report.equal, report.render()
            assert report.skipped == 0
    finally:
        await db.close()
