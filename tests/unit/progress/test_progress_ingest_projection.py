"""The pure fold of an ingest's events, and the index rows its member events describe."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import fields

import orjson
import pytest

from dicompress_progress.errors import ProjectionError
from dicompress_progress.ingest_projection import (
    IngestStatus,
    IngestView,
    apply_ingest,
    ingest_event_is_late,
)
from dicompress_progress.migrate import load_migrations
from dicompress_progress.study_rows import (
    INSTANCE_COLUMNS,
    REJECTION_COLUMNS,
    instance_row,
    position_of,
    rejection_row,
)
from dicompress_schemas import IngestEvent, InstanceKind
from dicompress_schemas.histories.ingests import AXIAL, BASIC_TEXT_SR, STUDY, IngestHistory


def fold(events: Sequence[IngestEvent]) -> IngestView:
    view = None
    for event in events:
        view = apply_ingest(view, event)
    assert view is not None
    return view


def whole_ingest() -> tuple[IngestHistory, list[IngestEvent]]:
    history = IngestHistory()
    events: list[IngestEvent] = [history.uploaded(), history.started()]
    events += [history.image(z=-10.0 * i, number=i + 1) for i in range(3)]
    events.append(history.rejection("README.TXT"))
    events.append(
        history.instance(
            "1.2.3.99", kind=InstanceKind.NON_IMAGE, sop_class_uid=BASIC_TEXT_SR, image=None
        )
    )
    events.append(history.completed(skipped=2))
    return history, events


def test_a_whole_ingest_folds_into_its_row() -> None:
    history, events = whole_ingest()
    view = fold(events)
    uploaded = events[0]
    assert view.status is IngestStatus.COMPLETED
    assert (view.ingest_id, view.tenant) == (history.ingest_id, "clinic-a")
    assert (view.file_name, view.channel, view.bucket) == (
        "cbct-2026-12-06.zip",
        "presigned",
        "dicompress-data",
    )
    assert (view.members, view.instances, view.images, view.non_images) == (5, 4, 3, 1)
    assert (view.rejected, view.skipped) == (1, 2)
    assert view.bytes_stored == 4 * 526182
    assert view.uploaded_at == uploaded.occurred_at
    assert view.started_at == events[1].occurred_at
    assert view.finished_at == events[-1].occurred_at
    assert (view.last_seq, view.worker, view.refused_events) == (7, "ingest-5f7d-1", 0)


def test_running_counts_before_the_end() -> None:
    _, events = whole_ingest()
    view = fold(events[:-1])
    assert view.status is IngestStatus.RUNNING
    assert (view.members, view.instances, view.images, view.non_images, view.rejected) == (
        5,
        4,
        3,
        1,
        1,
    )
    assert view.finished_at is None


def test_any_arrival_order_of_the_two_topics_gives_the_same_row() -> None:
    # The upload (requests topic) may be read before, between or after the ingest events.
    _, events = whole_ingest()
    uploaded, rest = events[0], events[1:]
    expected = fold(events)
    for place in range(len(rest) + 1):
        order = [*rest[:place], uploaded, *rest[place:]]
        assert fold(order) == expected, place


def test_an_upload_seen_last_still_fills_its_fields_but_not_its_status() -> None:
    history, events = whole_ingest()
    view = fold([*events[1:], events[0]])
    assert view.status is IngestStatus.COMPLETED
    assert view.key == f"clinic-a/uploads/{history.ingest_id}/study.zip"
    assert view.uploaded_at == events[0].occurred_at


def test_a_failure_keeps_the_counts_and_says_why() -> None:
    history = IngestHistory()
    events: list[IngestEvent] = [history.uploaded(), history.started(), history.image(0.0, 1)]
    events.append(history.failed())
    view = fold(events)
    assert view.status is IngestStatus.FAILED
    assert (view.error_code, view.instances) == ("suspicious-ratio", 1)
    assert "zip bomb" in str(view.reason)
    assert str(view.detail).startswith("member")


def test_events_after_the_end_are_refused_and_counted() -> None:
    history, events = whole_ingest()
    done = fold(events)
    late = history.image(z=100.0, number=9)
    assert ingest_event_is_late(done, late)
    after = apply_ingest(done, late)
    assert (after.status, after.instances, after.refused_events) == (done.status, 4, 1)
    assert after.last_seq == late.seq
    assert not ingest_event_is_late(done, events[0])  # the upload's own facts always count


def test_an_event_of_another_tenant_or_ingest_is_refused() -> None:
    history = IngestHistory()
    view = fold([history.started()])
    intruder = IngestHistory(tenant="globex", ingest_id=history.ingest_id)
    with pytest.raises(ProjectionError, match="globex"):
        apply_ingest(view, intruder.image(0.0, 1))
    with pytest.raises(ProjectionError, match="applied to"):
        apply_ingest(view, IngestHistory().started())


def test_instance_row_carries_the_header_and_the_position_along_the_normal() -> None:
    history = IngestHistory()
    event = history.image(z=-312.5, number=17)
    row = instance_row(event)
    assert (row.tenant, row.study_instance_uid, row.series_instance_uid) == (
        "clinic-a",
        STUDY,
        AXIAL,
    )
    assert (row.kind, row.instance_number, row.number_of_frames) == ("image", 17, 1)
    assert row.position == pytest.approx(-312.5)
    assert row.first_stored_at == row.stored_at == event.occurred_at
    assert row.header is not None
    header = orjson.loads(row.header)
    assert (header["rows"], header["window_center"]) == (512, [40.0, 400.0])
    assert len(row.values()) == len(row.__dataclass_fields__)


def test_position_follows_the_slice_normal_not_z() -> None:
    history = IngestHistory()
    # A sagittal slice: rows along +y, columns along -z; its normal (row x column) is -x, so
    # its IPP (-180, -180, 50) lies 180 mm along it, whatever its z.
    sagittal = history.image(z=50.0, number=1, orientation=(0, 1, 0, 0, 0, -1))
    assert sagittal.image is not None
    assert position_of(sagittal.image) == pytest.approx(180.0)


def test_no_position_without_geometry_or_with_a_degenerate_orientation() -> None:
    history = IngestHistory()
    flat = history.image(z=1.0, number=1, orientation=None)
    assert instance_row(flat).position is None
    parallel = history.image(z=1.0, number=2, orientation=(1, 0, 0, 1, 0, 0))
    assert instance_row(parallel).position is None
    report = history.instance("1.2.3.4", kind=InstanceKind.NON_IMAGE, image=None)
    row = instance_row(report)
    assert (row.header, row.position, row.instance_number) == (None, None, None)


def test_rejection_row() -> None:
    history = IngestHistory()
    event = history.rejection("DICOM/README.TXT")
    row = rejection_row(event)
    assert (row.ingest_id, row.seq, row.member, row.error_code) == (
        history.ingest_id,
        event.seq,
        "DICOM/README.TXT",
        "not-dicom",
    )
    assert row.reason.startswith("this file is not a DICOM object")


def test_shuffled_member_events_give_the_same_counts() -> None:
    # Within one ingest the events come in order (one partition); the fold's counters do not
    # depend on it anyway, so a replay reading another interleaving agrees.
    history = IngestHistory()
    members: list[IngestEvent] = [history.image(float(i), i) for i in range(10)]
    members.append(history.rejection("x.txt"))
    expected = fold([history.started(), *members])
    shuffled = list(members)
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a fixed test order
    assert fold([history.started(), *shuffled]) == expected


def test_every_row_field_is_a_column_of_the_study_index_migration() -> None:
    # The store writes these dataclasses field by field; a field without a column would fail
    # only at run time.
    (migration,) = [m for m in load_migrations() if m.name == "study_index"]

    def columns(table: str) -> set[str]:
        body = migration.sql.split(f"CREATE TABLE {table} (")[1].split(");")[0]
        return set(re.findall(r"^\s{4}([a-z0-9_]+)\s", body, flags=re.MULTILINE))

    assert {f.name for f in fields(IngestView)} <= columns("ingests")
    assert set(INSTANCE_COLUMNS) <= columns("study_instances")
    assert set(REJECTION_COLUMNS) <= columns("ingest_rejections")
