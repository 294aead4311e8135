"""Postgres adapter of the projection: the tracking record and the view update, one transaction.

For each event: insert it into `job_events` (ON CONFLICT DO NOTHING); only if that inserted a
row, lock the job, load its row FOR UPDATE, fold the event in (`projection.apply`) and upsert
the row. Either both writes commit or neither does, so a redelivered or replayed event finds
its tracking record and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from dicompress_progress.projection import JobView, Status, apply, ignored_as_late
from dicompress_schemas import Event, encode_event


@dataclass(frozen=True)
class Origin:
    """Where a message was read from; kept in `job_events` and in every log line."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class Delivered:
    """One decoded event and where it came from (None for events not read from Kafka)."""

    event: Event
    origin: Origin | None = None


class Outcome(StrEnum):
    APPLIED = "applied"  # recorded and folded into the job's row
    LATE = "late"  # recorded, but the job had ended: its row kept its state (but last_seq)
    DUPLICATE = "duplicate"  # recorded before: nothing changed
    SEQ_TAKEN = "seq-taken"  # another event holds this job/seq (e.g. another attempt): ignored


_COLUMNS = [f.name for f in fields(JobView)]

_INSERT_EVENT = """
INSERT INTO job_events
    (job_id, seq, event_id, type, topic, partition, "offset", occurred_at, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
ON CONFLICT DO NOTHING
RETURNING event_id
"""

_UPSERT_JOB = f"""
INSERT INTO jobs ({", ".join(_COLUMNS)}, updated_at)
VALUES ({", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))}, now())
ON CONFLICT (job_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "job_id")}, updated_at = now()
"""  # noqa: S608 -- the column names come from JobView, never from input

# Two-int advisory key space ("jobs" in ASCII, then a hash of the job id): serialises the
# events of one job across workers even before its row exists (FOR UPDATE locks nothing then,
# and two first events could both insert).
_JOB_LOCK_CLASS = 0x6A6F6273


class ProjectionStore:
    """Applies events to `jobs`/`job_events` exactly once in effect."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, batch: Sequence[Delivered]) -> list[Outcome]:
        """Record and apply every event of `batch`, in order, in ONE transaction.

        All or nothing: if anything fails, nothing of the batch is kept and the caller may
        retry the whole batch (already-recorded events are skipped by their tracking record).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            return [await _record_one(conn, delivered) for delivered in batch]


async def _record_one(conn: PoolConnectionProxy[Any], delivered: Delivered) -> Outcome:
    event, origin = delivered.event, delivered.origin
    inserted = await conn.fetchval(
        _INSERT_EVENT,
        event.job_id,
        event.seq,
        event.event_id,
        event.type,
        origin.topic if origin else None,
        origin.partition if origin else None,
        origin.offset if origin else None,
        event.occurred_at,
        encode_event(event).decode(),
    )
    if inserted is None:
        holder = await conn.fetchval(
            "SELECT event_id FROM job_events WHERE job_id = $1 AND seq = $2",
            event.job_id,
            event.seq,
        )
        return Outcome.SEQ_TAKEN if holder not in (None, event.event_id) else Outcome.DUPLICATE
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _JOB_LOCK_CLASS, str(event.job_id)
    )
    row = await conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE", event.job_id)
    before = _view_of(row) if row is not None else None
    after = apply(before, event)
    await conn.execute(_UPSERT_JOB, *_values_of(after))
    return Outcome.LATE if ignored_as_late(before, event) else Outcome.APPLIED


def _view_of(row: asyncpg.Record) -> JobView:
    values = {column: row[column] for column in _COLUMNS}
    values["status"] = Status(values["status"])
    return JobView(**values)


def _values_of(view: JobView) -> list[Any]:
    return [
        view.status.value if column == "status" else getattr(view, column) for column in _COLUMNS
    ]
