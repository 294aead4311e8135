"""Postgres adapter of the study index: ingest events, with their tracking record, into
`ingests`, `ingest_rejections`, `study_instances`, `ingest_studies`, `studies` and `series`.

Called by `store.record_batch` on a connection already in the batch's transaction, so either
all of it commits with the batch or nothing does. Per batch:

1. insert the tracking rows into `ingest_events` (unique on event_id and (ingest_id, seq); ON
   CONFLICT DO NOTHING, RETURNING what was new): an event recorded before changes nothing;
2. lock the ingests the new events touch (advisory, in hash order: the request and the events
   topics may be read by two workers at once), load their rows FOR UPDATE, fold the events in
   (`ingest_projection.apply_ingest`, pure) and upsert the rows;
3. add the rejections, and upsert the stored instances: one row per (tenant, SOP Instance UID),
   the newest store winning by (stored_at, ingest_id, seq), so the order events are projected
   in (live or replay) does not matter. An instance stored after its ingest ended is still
   indexed: the object is in S3 whatever the ingest's counters say;
4. recompute the `studies` and `series` rows of every study touched from `study_instances`,
   under an advisory lock per study, so two workers feeding one study never overwrite each
   other's aggregates with a stale one.
"""

from __future__ import annotations

import uuid
from dataclasses import fields

from dicompress_progress.delivery import Connection, Origin, Outcome
from dicompress_progress.ingest_projection import (
    IngestStatus,
    IngestView,
    apply_ingest,
    ingest_event_is_late,
)
from dicompress_progress.study_rows import (
    INSTANCE_COLUMNS,
    REJECTION_COLUMNS,
    InstanceRow,
    RejectionRow,
    instance_row,
    rejection_row,
)
from dicompress_progress.tracking import (
    EventTable,
    insert_sql,
    upsert_view_sql,
    values_of,
    view_of,
)
from dicompress_schemas import IngestEvent, InstanceStored, MemberRejected, study_id

Indexed = tuple[int, IngestEvent, Origin | None]  # (place in the batch, event, where read)

_INGEST_COLUMNS = [f.name for f in fields(IngestView)]

_INSERT_EVENTS = """
INSERT INTO ingest_events
    (ingest_id, seq, event_id, type, tenant, topic, partition, "offset", occurred_at, payload)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                     $7::int[], $8::bigint[], $9::timestamptz[], $10::jsonb[])
ON CONFLICT DO NOTHING
RETURNING ingest_id, seq
"""

_EVENTS = EventTable("ingest_events", "ingest_id", with_tenant=True)

# Two-int advisory key spaces ("ings" and "stdy" in ASCII, then a hash of the name), apart from
# the jobs' ("jobs"). Taken in hash order, after the jobs' locks, so workers never deadlock.
_INGEST_LOCK_CLASS = 0x696E6773
_STUDY_LOCK_CLASS = 0x73746479
_LOCK = """
SELECT pg_advisory_xact_lock($1, h)
FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS locks
"""

_UPSERT_INGEST = upsert_view_sql("ingests", _INGEST_COLUMNS, "ingest_id")
_INSERT_REJECTION = insert_sql("ingest_rejections", REJECTION_COLUMNS)

_NEWER = (
    "(EXCLUDED.stored_at, EXCLUDED.ingest_id, EXCLUDED.seq) >= "
    "(study_instances.stored_at, study_instances.ingest_id, study_instances.seq)"
)
_KEPT = ("tenant", "sop_instance_uid", "first_stored_at")
_UPSERT_INSTANCE = f"""
INSERT INTO study_instances ({", ".join(INSTANCE_COLUMNS)})
VALUES ({", ".join(f"${i}" for i in range(1, len(INSTANCE_COLUMNS) + 1))})
ON CONFLICT (tenant, sop_instance_uid) DO UPDATE SET
    {
    ", ".join(
        f"{c} = CASE WHEN {_NEWER} THEN EXCLUDED.{c} ELSE study_instances.{c} END"
        for c in INSTANCE_COLUMNS
        if c not in _KEPT
    )
},
    first_stored_at = LEAST(study_instances.first_stored_at, EXCLUDED.first_stored_at)
"""  # noqa: S608 -- the column names come from InstanceRow, never from input

# The studies the instances belonged to before this batch (a re-upload may move one).
_PREVIOUS_STUDIES = """
SELECT DISTINCT i.tenant, i.study_instance_uid FROM study_instances i
JOIN unnest($1::text[], $2::text[]) AS k (tenant, sop_instance_uid) USING (tenant, sop_instance_uid)
WHERE i.study_instance_uid IS NOT NULL
"""

_INSERT_INGEST_STUDIES = """
INSERT INTO ingest_studies (ingest_id, tenant, study_instance_uid)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
ON CONFLICT DO NOTHING
"""


def _latest(column: str) -> str:
    """The value of `column` in the most recently stored instance that has one."""
    return (
        f"(array_agg(i.{column} ORDER BY i.stored_at DESC, i.sop_instance_uid) "
        f"FILTER (WHERE i.{column} IS NOT NULL))[1]"
    )


_COUNTS = """count(*), count(*) FILTER (WHERE i.kind = 'image'),
       count(*) FILTER (WHERE i.kind = 'non-image')"""

_DELETE_STUDIES = """
DELETE FROM {table} t USING unnest($1::text[], $2::text[]) AS k (tenant, uid)
WHERE t.tenant = k.tenant AND t.study_instance_uid = k.uid
"""

_INSERT_STUDIES = f"""
INSERT INTO studies (tenant, study_instance_uid, study_id, patient_name, patient_id, study_date,
                     study_description, accession_number, modalities, series_count,
                     instance_count, image_count, non_image_count, bytes, received_at,
                     last_stored_at)
SELECT i.tenant, i.study_instance_uid, k.study_id, {_latest("patient_name")},
       {_latest("patient_id")}, {_latest("study_date")}, {_latest("study_description")},
       {_latest("accession_number")},
       COALESCE(array_agg(DISTINCT i.modality ORDER BY i.modality)
                FILTER (WHERE i.modality IS NOT NULL), '{{}}'),
       count(DISTINCT i.series_instance_uid), {_COUNTS},
       sum(i.bytes), min(i.first_stored_at), max(i.stored_at)
FROM study_instances i
JOIN unnest($1::text[], $2::text[], $3::uuid[]) AS k (tenant, uid, study_id)
    ON i.tenant = k.tenant AND i.study_instance_uid = k.uid
GROUP BY i.tenant, i.study_instance_uid, k.study_id
"""  # noqa: S608 -- fixed text, values are bound

_INSERT_SERIES = f"""
INSERT INTO series (tenant, study_instance_uid, series_instance_uid, modality, series_number,
                    series_description, sop_class_uids, instance_count, image_count,
                    non_image_count, frame_count, bytes, received_at, last_stored_at)
SELECT i.tenant, i.study_instance_uid, i.series_instance_uid, {_latest("modality")},
       {_latest("series_number")}, {_latest("series_description")},
       array_agg(DISTINCT i.sop_class_uid ORDER BY i.sop_class_uid), {_COUNTS},
       COALESCE(sum(i.number_of_frames) FILTER (WHERE i.kind = 'image'), 0),
       sum(i.bytes), min(i.first_stored_at), max(i.stored_at)
FROM study_instances i
JOIN unnest($1::text[], $2::text[]) AS k (tenant, uid)
    ON i.tenant = k.tenant AND i.study_instance_uid = k.uid
WHERE i.series_instance_uid IS NOT NULL
GROUP BY i.tenant, i.study_instance_uid, i.series_instance_uid
"""  # noqa: S608 -- fixed text, values are bound


async def record_ingest_events(conn: Connection, delivered: list[Indexed]) -> dict[int, Outcome]:
    """Record and apply ingest events (in batch order) on `conn`, inside the caller's
    transaction; the outcome of each by its place in the batch."""
    outcomes: dict[int, Outcome] = {}
    fresh = await _EVENTS.record(conn, delivered, _INSERT_EVENTS, outcomes)
    if fresh:
        await _apply(conn, fresh, outcomes)
    return outcomes


async def _apply(
    conn: Connection, fresh: list[tuple[int, IngestEvent]], outcomes: dict[int, Outcome]
) -> None:
    ingest_ids = sorted({e.ingest_id for _, e in fresh})
    await conn.execute(_LOCK, _INGEST_LOCK_CLASS, [str(g) for g in ingest_ids])
    rows = await conn.fetch(
        "SELECT * FROM ingests WHERE ingest_id = ANY($1) FOR UPDATE", ingest_ids
    )
    views: dict[uuid.UUID, IngestView | None] = {
        row["ingest_id"]: view_of(row, IngestView, IngestStatus) for row in rows
    }
    instances: list[InstanceRow] = []
    rejections: list[RejectionRow] = []
    for i, event in fresh:
        before = views.get(event.ingest_id)
        views[event.ingest_id] = apply_ingest(before, event)  # ProjectionError: batch refused
        late = ingest_event_is_late(before, event)
        outcomes[i] = Outcome.LATE if late else Outcome.APPLIED
        if isinstance(event, InstanceStored):
            instances.append(instance_row(event))
        elif isinstance(event, MemberRejected):
            rejections.append(rejection_row(event))
    changed = [view for view in views.values() if view is not None]
    await conn.executemany(_UPSERT_INGEST, [values_of(view) for view in changed])
    if rejections:
        await conn.executemany(_INSERT_REJECTION, [row.values() for row in rejections])
    if instances:
        await _index_instances(conn, instances)


async def _index_instances(conn: Connection, instances: list[InstanceRow]) -> None:
    studies = {(r.tenant, r.study_instance_uid) for r in instances if r.study_instance_uid}
    await _lock_studies(conn, studies)
    previous = await conn.fetch(
        _PREVIOUS_STUDIES,
        [r.tenant for r in instances],
        [r.sop_instance_uid for r in instances],
    )
    moved = {(r["tenant"], r["study_instance_uid"]) for r in previous} - studies
    if moved:  # rare (a re-upload under another study): may wait out of order, then is retried
        await _lock_studies(conn, moved)
        studies |= moved
    await conn.executemany(_UPSERT_INSTANCE, [row.values() for row in instances])
    fed = sorted(
        {(r.ingest_id, r.tenant, r.study_instance_uid) for r in instances if r.study_instance_uid}
    )
    if fed:
        await conn.execute(
            _INSERT_INGEST_STUDIES,
            [ingest for ingest, _, _ in fed],
            [tenant for _, tenant, _ in fed],
            [uid for _, _, uid in fed],
        )
    await _recompute(conn, sorted(studies))


async def _lock_studies(conn: Connection, studies: set[tuple[str, str]]) -> None:
    if studies:
        names = [f"{tenant}/{uid}" for tenant, uid in studies]
        await conn.execute(_LOCK, _STUDY_LOCK_CLASS, names)


async def _recompute(conn: Connection, studies: list[tuple[str, str]]) -> None:
    """The `studies` and `series` rows of `studies`, again from their instances."""
    tenants = [tenant for tenant, _ in studies]
    uids = [uid for _, uid in studies]
    ids = [study_id(tenant, uid) for tenant, uid in studies]
    for table in ("series", "studies"):
        await conn.execute(_DELETE_STUDIES.format(table=table), tenants, uids)
    await conn.execute(_INSERT_STUDIES, tenants, uids, ids)
    await conn.execute(_INSERT_SERIES, tenants, uids)
