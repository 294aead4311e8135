"""Postgres adapter of the projection: tracking records and view updates, one transaction.

A batch of events costs a fixed handful of round trips, whatever its size: insert all tracking
rows into `job_events` (ON CONFLICT DO NOTHING, RETURNING what was new), lock the jobs those
touch, load their rows FOR UPDATE, fold the new events in (the contract's pure `jobs.apply`),
upsert the rows, add the slice rows, and queue one change notification per job. Either all of
it commits or nothing does, so a redelivered or replayed event finds its tracking record and
changes nothing. Commands from the control topic are recorded in `job_commands` in the same way, and
ingest events (the study index) by `study_index_store`, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields

import asyncpg

from dicompress_progress import product_rows, slices
from dicompress_progress.delivery import Connection, Delivered, Origin, Outcome
from dicompress_progress.errors import ProjectionError
from dicompress_progress.study_index_store import record_ingest_events
from dicompress_progress.tracking import (
    EventTable,
    insert_sql,
    origin_values,
    upsert_view_sql,
    values_of,
    view_of,
)
from dicompress_schemas import (
    Command,
    Event,
    IngestEvent,
    IngestEventBase,
    changefeed,
    encode_command,
)
from dicompress_schemas.jobs import JobFoldError, JobView, Status, apply, ignored_as_late

__all__ = ["Delivered", "Origin", "Outcome", "ProjectionStore", "record_batch"]


_COLUMNS = [f.name for f in fields(JobView)]

_INSERT_EVENTS = """
INSERT INTO job_events
    (job_id, seq, event_id, type, topic, partition, "offset", occurred_at, payload)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::text[], $6::int[],
                     $7::bigint[], $8::timestamptz[], $9::jsonb[])
ON CONFLICT DO NOTHING
RETURNING job_id, seq
"""

_EVENTS = EventTable("job_events", "job_id")

# Two-int advisory key space ("jobs" in ASCII, then a hash of the job id): serialises the
# events of one job across workers even before its row exists (FOR UPDATE locks nothing then,
# and two first events could both insert). Taken in hash order, so workers never deadlock.
_JOB_LOCK_CLASS = 0x6A6F6273
_LOCK_JOBS = """
SELECT pg_advisory_xact_lock($1, h)
FROM (SELECT DISTINCT hashtext(j) AS h FROM unnest($2::text[]) AS j ORDER BY h) AS locks
"""

_UPSERT_JOB = upsert_view_sql("jobs", _COLUMNS, "job_id")
_INSERT_SLICE = insert_sql("job_slices", slices.COLUMNS)

_INSERT_COMMAND = """
INSERT INTO job_commands
    (command_id, job_id, tenant, type, requested_at, topic, partition, "offset", payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
ON CONFLICT DO NOTHING
RETURNING command_id
"""


class ProjectionStore:
    """Applies events to the projection tables exactly once in effect."""

    def __init__(self, pool: asyncpg.Pool, notify_channel: str | None = changefeed.CHANNEL) -> None:
        self._pool = pool
        self._notify_channel = notify_channel

    async def record(self, batch: Sequence[Delivered]) -> list[Outcome]:
        """Record and apply every event of `batch`, in order, in ONE transaction.

        All or nothing: if anything fails, nothing of the batch is kept and the caller may
        retry the whole batch (already-recorded events are skipped by their tracking record).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            return await record_batch(conn, batch, self._notify_channel)


async def record_batch(
    conn: Connection, batch: Sequence[Delivered], notify_channel: str | None
) -> list[Outcome]:
    """The body of `record`, on a connection already in a transaction (replay uses it too)."""
    outcomes: dict[int, Outcome] = {}
    events: list[tuple[int, Event, Origin | None]] = []
    ingest_events: list[tuple[int, IngestEvent, Origin | None]] = []
    for i, delivered in enumerate(batch):
        item = delivered.event
        if isinstance(item, Command):
            outcomes[i] = await _record_command(conn, item, delivered.origin)
        elif isinstance(item, IngestEventBase):
            ingest_events.append((i, item, delivered.origin))
        else:
            events.append((i, item, delivered.origin))
    outcomes.update(await _record_events(conn, events, notify_channel))
    # After the jobs: every worker takes its advisory locks in the same order (jobs, ingests,
    # studies), so two workers never wait on each other in a circle.
    outcomes.update(await record_ingest_events(conn, ingest_events))
    return [outcomes[i] for i in range(len(batch))]


async def _record_events(
    conn: Connection,
    delivered: list[tuple[int, Event, Origin | None]],
    notify_channel: str | None,
) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    fresh = await _EVENTS.record(conn, delivered, _INSERT_EVENTS, outcomes)
    if fresh:
        await _fold(conn, fresh, outcomes, notify_channel)
    return outcomes


async def _fold(
    conn: Connection,
    fresh: list[tuple[int, Event]],
    outcomes: dict[int, Outcome],
    notify_channel: str | None,
) -> None:
    job_ids = sorted({e.job_id for _, e in fresh})
    await conn.execute(_LOCK_JOBS, _JOB_LOCK_CLASS, [str(j) for j in job_ids])
    rows = await conn.fetch("SELECT * FROM jobs WHERE job_id = ANY($1) FOR UPDATE", job_ids)
    views: dict[uuid.UUID, JobView | None] = {
        row["job_id"]: view_of(row, JobView, Status) for row in rows
    }
    slice_rows: list[slices.SliceRow] = []
    products: list[tuple[object, ...]] = []
    images: list[tuple[object, ...]] = []
    for i, event in fresh:
        before = views.get(event.job_id)
        try:
            views[event.job_id] = apply(before, event)
        except JobFoldError as exc:  # the event can never be applied: the batch is refused
            raise ProjectionError(str(exc)) from exc
        late = ignored_as_late(before, event)
        outcomes[i] = Outcome.LATE if late else Outcome.APPLIED
        if late:
            continue
        row = slices.slice_row(event)
        if row is not None:
            slice_rows.append(row)
        if (product := product_rows.product_values(event)) is not None:
            products.append(product)
        if (image := product_rows.image_values(event)) is not None:
            images.append(image)
    changed = [view for view in views.values() if view is not None]
    await conn.executemany(_UPSERT_JOB, [values_of(view) for view in changed])
    if slice_rows:
        await conn.executemany(_INSERT_SLICE, [row.values() for row in slice_rows])
    if products:
        await conn.executemany(product_rows.INSERT_PRODUCT, products)
    if images:
        await conn.executemany(product_rows.INSERT_IMAGE, images)
    if notify_channel is not None:
        touched = {e.job_id for _, e in fresh}
        payloads = [changefeed.payload(v) for v in changed if v.job_id in touched]
        await conn.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", notify_channel, payloads
        )


async def _record_command(conn: Connection, command: Command, origin: Origin | None) -> Outcome:
    inserted = await conn.fetchval(
        _INSERT_COMMAND,
        command.command_id,
        command.job_id,
        command.tenant,
        command.type,
        command.requested_at,
        *origin_values(origin),
        encode_command(command).decode(),
    )
    return Outcome.DUPLICATE if inserted is None else Outcome.APPLIED
