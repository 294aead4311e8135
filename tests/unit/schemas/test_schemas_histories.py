"""The event-history factories tests and benches share (`dicompress_schemas.histories`): their
events are valid events of the current version, with the seqs, ids and times the services give
them, and they round-trip through the codec."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dicompress_schemas import (
    EVENT_TYPES,
    IngestCompleted,
    SliceEncoded,
    SliceFailed,
    decode_event,
    decode_ingest_event,
    encode_event,
    new_event_id,
    new_ingest_event_id,
)
from dicompress_schemas.golden import MissingExample, example, examples_dir, latest_versions
from dicompress_schemas.histories import IngestHistory, JobHistory
from dicompress_schemas.histories.ingests import STUDY

JOB = uuid.UUID("00000000-0000-4000-8000-00000000000a")
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def whole_job() -> JobHistory:
    h = JobHistory(JOB, "acme", start=T0, step=timedelta(seconds=1))
    h.requested(rate=10)
    h.started(total=3)
    h.slice(0)
    h.slice(1, failed=True)
    h.completed()
    return h


def test_a_history_gets_the_seqs_ids_and_times_the_compressor_gives() -> None:
    h = whole_job()
    assert [e.type for e in h.events] == [
        "CompressionRequested",
        "JobStarted",
        "SliceEncoded",
        "SliceFailed",
        "JobCompleted",
    ]
    assert [e.seq for e in h.events] == [0, 1, 2, 3, 5]  # the end after the 3rd slice's seq
    assert all(e.event_id == new_event_id(JOB, e.seq) for e in h.events)
    assert all((e.job_id, e.tenant, e.attempt) == (JOB, "acme", 1) for e in h.events)
    assert [e.occurred_at for e in h.events] == [T0 + timedelta(seconds=s) for s in (0, 1, 2, 3, 5)]


def test_every_event_round_trips_through_the_codec_at_its_current_version() -> None:
    h = whole_job()
    h.failed()
    h.cancelled()
    for event in h.events:
        assert decode_event(encode_event(event)) == event
        assert event.version == type(event).model_fields["version"].default


def test_the_end_counts_the_slices_handed_out() -> None:
    h = JobHistory(tenant="acme")
    h.started(total=3)
    a, b = h.encoded(0, bytes_in=100, bytes_out=10), h.encoded(2, bytes_in=50, bytes_out=5)
    h.encoded(0, bytes_in=100, bytes_out=10)  # a redelivery counts once
    failed = h.slice(1, failed=True)
    done = h.completed()
    assert isinstance(failed, SliceFailed)
    assert (done.slices_encoded, done.slices_failed) == (2, 1)
    assert (done.bytes_in, done.bytes_out) == (150, 15)
    assert done.encode_ms == a.encode_ms + b.encode_ms


def test_fields_times_and_attempts_are_the_callers_to_set() -> None:
    h = JobHistory(JOB, "acme", start=T0)
    at_seconds = h.encoded(4, at=7.5, ratio=12.0)
    assert (at_seconds.seq, at_seconds.ratio) == (6, 12.0)
    assert at_seconds.occurred_at == T0 + timedelta(seconds=7.5)
    rerun = h.started(attempt=2, at=T0 + timedelta(hours=1), worker="w-2")
    assert (rerun.attempt, rerun.event_id) == (2, new_event_id(JOB, 1, attempt=2))
    assert (rerun.occurred_at, rerun.worker) == (T0 + timedelta(hours=1), "w-2")
    assert h.completed(seq=99, ratio=3.5).seq == 99


def test_the_same_call_builds_the_same_event() -> None:
    h = JobHistory(JOB, "acme")
    assert h.slice(3) == h.slice(3)
    assert JobHistory(JOB, "acme").requested(rate=20) == JobHistory(JOB, "acme").requested(rate=20)


def test_the_golden_example_is_moved_onto_the_job_and_its_tenant() -> None:
    h = JobHistory(JOB, "acme")
    request, slice_ = h.requested(), h.encoded(5)
    assert request.target_uri.startswith("s3://dicompress-data/acme/")
    assert request.compression_rate == example("CompressionRequested")["compression_rate"]
    assert isinstance(slice_, SliceEncoded)
    assert slice_.slice_key == f"acme/jobs/{JOB}/slices/00005.dcm"
    assert slice_.source_key.startswith("acme/")
    assert slice_.source_key.endswith("00005.dcm")


def test_a_lossless_request_has_no_rate() -> None:
    request = JobHistory().requested(codec="j2k-lossless")
    assert request.compression_rate is None


def test_a_field_the_event_does_not_have_is_refused() -> None:
    with pytest.raises(TypeError, match="no field bogus"):
        JobHistory().completed(bogus=1)


def test_every_event_type_has_a_golden_example_at_its_current_version() -> None:
    # The factory follows the newest example of each type: it must be the model's version.
    for model in EVENT_TYPES:
        assert latest_versions()[model.__name__] == model.model_fields["version"].default
    assert examples_dir().is_dir()
    with pytest.raises(MissingExample):
        example("NoSuchEvent")


def test_an_ingest_history_gets_the_seqs_ids_and_counts_the_ingest_gives() -> None:
    upload = uuid.UUID("00000000-0000-4000-8000-00000000000b")
    h = IngestHistory("acme", upload)
    events = [h.uploaded(), h.started(), h.image(-10.0, 1), h.rejection("README.TXT")]
    events.append(h.completed(skipped=2))
    assert [e.seq for e in events] == [0, 1, 2, 3, 4]
    assert all(e.event_id == new_ingest_event_id(upload, e.seq) for e in events)
    assert all(decode_ingest_event(encode_event(e)) == e for e in events)
    done = events[-1]
    assert isinstance(done, IngestCompleted)
    assert (done.members, done.images, done.rejected, done.skipped) == (2, 1, 1, 2)
    assert h.stored[0].key.startswith(f"acme/studies/{STUDY}/")
    assert h.uploaded(bare=True).etag == ""  # the model's default, not the example's
