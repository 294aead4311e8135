"""The study index in real Postgres: ingest events recorded with their tracking record, in any
order, redelivered, re-uploaded, from two tenants, refused, and one batch at a time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from dicompress_progress.errors import ProjectionError
from dicompress_progress.store import Delivered, Origin, Outcome, ProjectionStore
from dicompress_schemas import IngestEvent, InstanceKind, study_id
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.histories.ingests import AXIAL, BASIC_TEXT_SR, STUDY, IngestHistory

pytestmark = pytest.mark.integration

CORONAL = "1.2.826.0.1.3680043.8.498.2002"
TABLES = (
    "ingests",
    "ingest_events",
    "ingest_rejections",
    "study_instances",
    "ingest_studies",
    "studies",
    "series",
)


def deliver(events: Sequence[IngestEvent], topic: str = "ingest.events") -> list[Delivered]:
    return [Delivered(e, Origin(topic, 0, 100 + e.seq)) for e in events]


def a_study(history: IngestHistory, slices: int = 5) -> list[IngestEvent]:
    """Upload, start, `slices` axial slices 2.5 mm apart (stored out of anatomical order), a
    structured report, a rejected file, completion."""
    order = list(range(slices))
    random.Random(3).shuffle(order)  # noqa: S311 - a fixed test order
    events: list[IngestEvent] = [history.uploaded(), history.started()]
    events += [history.image(z=-2.5 * i, number=i + 1) for i in order]
    events.append(
        history.instance(
            f"{STUDY}.900",
            series_uid=f"{STUDY}.9",
            kind=InstanceKind.NON_IMAGE,
            sop_class_uid=BASIC_TEXT_SR,
            modality="SR",
            image=None,
        )
    )
    events.append(history.rejection("DICOM/README.TXT"))
    events.append(history.completed(skipped=1))
    return events


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the index, sorted, without the write times."""
    tables = {}
    for table in TABLES:
        rows = await pool.fetch(f"SELECT * FROM {table}")  # noqa: S608 - our own table names
        kept = [
            tuple(v for k, v in row.items() if k not in ("updated_at", "recorded_at"))
            for row in rows
        ]
        tables[table] = sorted(kept, key=repr)
    return tables


async def test_an_ingest_becomes_its_row_rejections_instances_study_and_series(
    pool: asyncpg.Pool,
) -> None:
    history = IngestHistory()
    events = a_study(history)
    outcomes = await ProjectionStore(pool).record(deliver(events))
    assert outcomes == [Outcome.APPLIED] * len(events)

    ingest = await pool.fetchrow("SELECT * FROM ingests WHERE ingest_id = $1", history.ingest_id)
    assert ingest is not None
    assert (ingest["status"], ingest["tenant"], ingest["file_name"]) == (
        "completed",
        "clinic-a",
        "cbct-2026-12-06.zip",
    )
    counts = ("members", "instances", "images", "non_images", "rejected", "skipped")
    assert tuple(ingest[c] for c in counts) == (7, 6, 5, 1, 1, 1)
    assert ingest["last_seq"] == events[-1].seq

    (rejection,) = await pool.fetch("SELECT * FROM ingest_rejections")
    assert (rejection["member"], rejection["error_code"]) == ("DICOM/README.TXT", "not-dicom")

    slices = await pool.fetch(
        "SELECT sop_instance_uid, position, header->>'rows' AS rows FROM study_instances "
        "WHERE series_instance_uid = $1 ORDER BY position",
        AXIAL,
    )
    assert [r["position"] for r in slices] == [-10.0, -7.5, -5.0, -2.5, 0.0]
    assert [r["sop_instance_uid"][-1] for r in slices] == ["5", "4", "3", "2", "1"]
    assert {r["rows"] for r in slices} == {"512"}

    study = await pool.fetchrow("SELECT * FROM studies")
    assert study is not None
    assert study["study_id"] == study_id("clinic-a", STUDY)
    assert (study["patient_name"], study["patient_id"], study["study_date"]) == (
        "Doe^Jane",
        "PAT-0042",
        "20261206",
    )
    assert (study["modalities"], study["series_count"], study["instance_count"]) == (
        ["CT", "SR"],
        2,
        6,
    )
    assert (study["image_count"], study["non_image_count"]) == (5, 1)
    assert study["received_at"] == events[2].occurred_at
    series = {r["series_instance_uid"]: r for r in await pool.fetch("SELECT * FROM series")}
    assert (series[AXIAL]["instance_count"], series[AXIAL]["frame_count"]) == (5, 5)
    assert series[AXIAL]["sop_class_uids"] == ["1.2.840.10008.5.1.4.1.1.2"]
    assert (series[f"{STUDY}.9"]["modality"], series[f"{STUDY}.9"]["frame_count"]) == ("SR", 0)
    fed = await pool.fetch("SELECT * FROM ingest_studies")
    assert [(r["ingest_id"], r["study_instance_uid"]) for r in fed] == [(history.ingest_id, STUDY)]


async def test_redelivery_changes_nothing_and_any_order_gives_the_same_index(
    pool: asyncpg.Pool,
) -> None:
    history = IngestHistory()
    events = a_study(history, slices=8)
    store = ProjectionStore(pool)
    # The upload (requests topic) last, the members scrambled, one event per transaction.
    scrambled = [*events[1:], events[0]]
    random.Random(11).shuffle(scrambled)  # noqa: S311 - a fixed test order
    for event in scrambled:
        await store.record(deliver([event]))
    first = await snapshot(pool)
    again = await store.record(deliver(events))
    assert again == [Outcome.DUPLICATE] * len(events)
    assert await snapshot(pool) == first
    ingest = await pool.fetchrow("SELECT status, instances FROM ingests")
    assert ingest is not None
    assert (ingest["status"], ingest["instances"]) == ("completed", 9)
    positions = await pool.fetch(
        "SELECT position FROM study_instances WHERE series_instance_uid = $1 ORDER BY position",
        AXIAL,
    )
    assert [r["position"] for r in positions] == [-2.5 * i for i in range(7, -1, -1)]


async def test_a_reuploaded_instance_updates_its_row_and_the_newest_store_wins(
    pool: asyncpg.Pool,
) -> None:
    store = ProjectionStore(pool)
    first = IngestHistory()
    second = IngestHistory(start=first.start + timedelta(hours=1))
    old = first.image(z=0.0, number=1, series_description="first upload")
    new = second.image(z=0.0, number=1, series_description="second upload")
    # The newer upload projected first: the older one must not overwrite it (replay order).
    await store.record(deliver([second.started(), new]))
    await store.record(deliver([first.started(), old]))
    (row,) = await pool.fetch("SELECT * FROM study_instances")
    assert (row["ingest_id"], row["series_description"]) == (second.ingest_id, "second upload")
    assert (row["first_stored_at"], row["stored_at"]) == (old.occurred_at, new.occurred_at)
    study = await pool.fetchrow("SELECT instance_count, received_at FROM studies")
    assert study is not None
    assert (study["instance_count"], study["received_at"]) == (1, old.occurred_at)
    series = await pool.fetchrow("SELECT series_description FROM series")
    assert series is not None
    assert series["series_description"] == "second upload"
    fed = await pool.fetch("SELECT ingest_id FROM ingest_studies ORDER BY ingest_id")
    assert {r["ingest_id"] for r in fed} == {first.ingest_id, second.ingest_id}


async def test_an_instance_moved_to_another_series_leaves_no_empty_series(
    pool: asyncpg.Pool,
) -> None:
    store = ProjectionStore(pool)
    first = IngestHistory()
    second = IngestHistory(start=first.start + timedelta(hours=1))
    await store.record(deliver([first.image(z=0.0, number=1), first.image(z=1.0, number=2)]))
    moved = second.instance(f"{AXIAL}.2", series_uid=CORONAL)
    await store.record(deliver([moved]))
    series = await pool.fetch("SELECT series_instance_uid, instance_count FROM series")
    assert sorted((r[0], r[1]) for r in series) == sorted([(AXIAL, 1), (CORONAL, 1)])
    study = await pool.fetchrow("SELECT series_count, instance_count FROM studies")
    assert study is not None
    assert (study["series_count"], study["instance_count"]) == (2, 2)


async def test_the_same_study_uid_at_two_tenants_is_two_studies(pool: asyncpg.Pool) -> None:
    store = ProjectionStore(pool)
    acme, globex = IngestHistory("acme"), IngestHistory("globex")
    await store.record(deliver([acme.image(0.0, 1), acme.image(1.0, 2), globex.image(5.0, 1)]))
    rows = await pool.fetch("SELECT tenant, study_id, instance_count FROM studies ORDER BY tenant")
    assert [(r["tenant"], r["study_id"], r["instance_count"]) for r in rows] == [
        ("acme", study_id("acme", STUDY), 2),
        ("globex", study_id("globex", STUDY), 1),
    ]
    instances = await pool.fetchval("SELECT count(*) FROM study_instances")
    assert instances == 3  # the same SOP Instance UID at two tenants: two rows


async def test_an_event_naming_another_tenant_is_refused_and_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    store = ProjectionStore(pool)
    history = IngestHistory("acme")
    await store.record(deliver([history.started()]))
    before = await snapshot(pool)
    intruder = IngestHistory("globex", history.ingest_id)
    intruder.seq = 5
    with pytest.raises(ProjectionError, match="globex"):
        await store.record(deliver([intruder.image(0.0, 1)]))
    assert await snapshot(pool) == before


async def test_a_mixed_batch_records_jobs_and_ingests_in_one_transaction(
    pool: asyncpg.Pool,
) -> None:
    job = JobHistory(tenant="acme").started(total=1)
    history = IngestHistory()
    batch = [Delivered(job), *deliver([history.started(), history.image(0.0, 1)])]
    assert await ProjectionStore(pool).record(batch) == [Outcome.APPLIED] * 3
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 1
    assert await pool.fetchval("SELECT count(*) FROM study_instances") == 1
