"""The contract's pure fold of a job's events into its view: transitions, order tolerance, no
reopening."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from dicompress_schemas import (
    CompressionRequested,
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
)
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.jobs import (
    TERMINAL_STATUSES,
    JobFoldError,
    JobView,
    Status,
    apply,
    ignored_as_late,
)

JOB = uuid.UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def job(tenant: str = "acme", total: int = 3) -> JobHistory:
    """A fresh history of JOB whose `seq`-th event happens `seq` seconds after T0."""
    return JobHistory(JOB, tenant, start=T0, step=timedelta(seconds=1), total=total)


def requested(tenant: str = "acme") -> CompressionRequested:
    return job(tenant).requested(
        20, source_uri="s3://in-bucket/series/1/", target_uri="s3://out-bucket/zips/"
    )


def started(total: int = 3) -> JobStarted:
    return job().started(total, total_bytes=3000, worker="w-1")


def encoded(index: int, total: int = 3) -> SliceEncoded:
    return job(total=total).encoded(
        index, bytes_in=1000, bytes_out=100 + index, ratio=20.0, encode_ms=40.0
    )


def slice_failed(index: int, total: int = 3) -> SliceFailed:
    return job(total=total).slice_failed(index, reason="not a DICOM file")


def completed(n: int = 3, failed: int = 0) -> JobCompleted:
    return job(total=n + failed).completed(
        slices_encoded=n,
        slices_failed=failed,
        bytes_in=1000 * n,
        bytes_out=303,
        ratio=19.5,
        artifact_uri="s3://out-bucket/zips/job.zip",
        artifact_bytes=400,
        download_ms=5.0,
        encode_ms=120.0,
        upload_ms=7.0,
        wall_ms=150.0,
    )


def job_failed(seq: int = 2) -> JobFailed:
    return job().failed(seq=seq, error_code="source-empty", reason="no slices under prefix")


def cancelled(seq: int = 3) -> JobCancelled:
    return job().cancelled(seq=seq, reason="user asked")


def fold(events: Sequence[Event], view: JobView | None = None) -> JobView:
    for event in events:
        view = apply(view, event)
    assert view is not None
    return view


def test_request_creates_a_queued_job_with_the_request_fields() -> None:
    view = apply(None, requested())
    assert view.status is Status.QUEUED
    assert (view.job_id, view.tenant) == (JOB, "acme")
    assert view.source_uri == "s3://in-bucket/series/1/"
    assert view.target_uri == "s3://out-bucket/zips/"
    assert view.compression_rate == 20
    assert view.codec == "j2k-lossy"
    assert view.requested_at == T0
    assert view.last_seq == 0
    assert (view.slices_done, view.slices_failed, view.bytes_in, view.bytes_out) == (0, 0, 0, 0)


def test_started_runs_the_job_and_sets_total_and_worker() -> None:
    view = fold([requested(), started(total=7)])
    assert view.status is Status.RUNNING
    assert view.slices_total == 7
    assert view.worker == "w-1"
    assert view.started_at == T0 + timedelta(seconds=1)
    assert view.last_seq == 1


def test_slices_count_up_and_add_their_bytes() -> None:
    view = fold([requested(), started(), encoded(0), encoded(1), slice_failed(2)])
    assert view.status is Status.RUNNING
    assert (view.slices_done, view.slices_failed) == (2, 1)
    assert view.bytes_in == 2000
    assert view.bytes_out == 100 + 101
    assert view.encode_ms == 80.0
    assert view.last_seq == 4


def test_completed_totals_are_authoritative() -> None:
    # Only one slice event was seen, but the completion says 3 were encoded.
    view = fold([requested(), started(), encoded(0), completed(n=3)])
    assert view.status is Status.COMPLETED
    assert (view.slices_total, view.slices_done, view.slices_failed) == (3, 3, 0)
    assert (view.bytes_in, view.bytes_out) == (3000, 303)
    assert view.ratio == 19.5
    assert (view.artifact_uri, view.artifact_bytes) == ("s3://out-bucket/zips/job.zip", 400)
    assert (view.download_ms, view.encode_ms, view.upload_ms, view.wall_ms) == (5, 120, 7, 150)
    assert view.finished_at == T0 + timedelta(seconds=5)
    assert view.is_terminal


def test_failed_records_code_and_reason() -> None:
    view = fold([requested(), started(), job_failed(seq=2)])
    assert view.status is Status.FAILED
    assert (view.error_code, view.reason) == ("source-empty", "no slices under prefix")
    assert view.finished_at == T0 + timedelta(seconds=2)


def test_cancelled_records_reason() -> None:
    view = fold([requested(), started(), cancelled(seq=2)])
    assert view.status is Status.CANCELLED
    assert view.reason == "user asked"
    assert view.finished_at is not None


def test_started_before_request_creates_running_job_and_request_fills_in_later() -> None:
    early = apply(None, started())
    assert early.status is Status.RUNNING
    assert early.source_uri is None
    assert early.requested_at == started().occurred_at  # fallback, so listings never see NULL

    view = apply(early, requested())
    assert view.status is Status.RUNNING  # the late request does not regress the status
    assert view.source_uri == "s3://in-bucket/series/1/"
    assert view.requested_at == T0  # the real request time replaces the fallback
    assert view.last_seq == 1  # last_seq never goes back either


def test_request_after_completion_fills_fields_but_keeps_completed() -> None:
    view = fold([started(), encoded(0), encoded(1), encoded(2), completed(), requested()])
    assert view.status is Status.COMPLETED
    assert view.compression_rate == 20
    assert view.slices_done == 3


def test_terminal_event_alone_creates_a_terminal_job() -> None:
    view = apply(None, job_failed())
    assert view.status is Status.FAILED
    assert view.tenant == "acme"


@pytest.mark.parametrize("terminal", [completed(), job_failed(seq=5), cancelled(seq=5)])
def test_late_slice_after_terminal_counts_nothing_and_does_not_reopen(terminal: Event) -> None:
    done = fold([requested(), started(), encoded(0), encoded(1), terminal])
    late = encoded(2)
    assert ignored_as_late(done, late)
    after = apply(done, late)
    assert after.status is done.status
    assert after.refused_events == done.refused_events + 1
    assert replace(after, last_seq=done.last_seq, refused_events=0) == done
    after_failed_slice = apply(done, slice_failed(2))
    assert after_failed_slice.slices_failed == done.slices_failed


def test_a_second_terminal_event_does_not_replace_the_first() -> None:
    done = fold([requested(), started(), completed(n=0)])
    for other in (job_failed(seq=3), cancelled(seq=4), started()):
        after = apply(done, other)
        assert after.status is Status.COMPLETED
        assert after.error_code is None
        assert after.reason is None


def test_request_is_never_late_but_other_events_after_the_end_are() -> None:
    done = fold([started(), completed(n=0)])
    assert not ignored_as_late(done, requested())
    assert ignored_as_late(done, started())
    assert not ignored_as_late(None, encoded(0))
    assert not ignored_as_late(fold([started()]), encoded(0))


def test_status_never_goes_back_in_any_arrival_order() -> None:
    # The request topic and the events topic are read independently: whatever the interleaving
    # of the request with the (ordered) rest, the final view is the same.
    rest: list[Event] = [started(), encoded(0), slice_failed(1), encoded(2), completed(2, 1)]
    expected = fold([requested(), *rest])
    for position in range(len(rest) + 1):
        events = [*rest[:position], requested(), *rest[position:]]
        view = fold(events)
        assert view == expected, position


def test_running_counts_do_not_depend_on_request_position() -> None:
    rest: list[Event] = [started(), encoded(0), encoded(1)]
    views = {fold([*p]) for p in _request_positions(rest)}
    assert len(views) == 1
    (view,) = views
    assert (view.status, view.slices_done, view.bytes_in) == (Status.RUNNING, 2, 2000)


def test_each_status_rank_only_moves_forward() -> None:
    ranks = {Status.QUEUED: 0, Status.RUNNING: 1}
    trio: list[Event] = [requested(), started(), completed(n=0)]
    for events in permutations(trio):
        view: JobView | None = None
        seen: list[int] = []
        for event in events:
            view = apply(view, event)
            seen.append(ranks.get(view.status, 2))
        assert seen == sorted(seen), [e.type for e in events]
        assert view is not None
        assert view.status is Status.COMPLETED


def test_event_of_another_tenant_is_refused() -> None:
    view = apply(None, started())
    with pytest.raises(JobFoldError, match="tenant"):
        apply(view, requested(tenant="intruder"))


def test_event_of_another_job_is_refused() -> None:
    view = replace(apply(None, started()), job_id=uuid.uuid4())
    with pytest.raises(JobFoldError, match="job"):
        apply(view, encoded(0))


def test_apply_does_not_mutate_the_view() -> None:
    before = apply(None, started())
    apply(before, encoded(0))
    assert before.slices_done == 0


def _request_positions(rest: list[Event]) -> list[list[Event]]:
    return [[*rest[:i], requested(), *rest[i:]] for i in range(len(rest) + 1)]


def test_the_terminal_statuses_are_those_a_job_never_leaves() -> None:
    view = JobView(job_id=uuid.uuid4(), tenant="acme", status=Status.QUEUED)
    terminal = {s for s in Status if replace(view, status=s).is_terminal}
    assert terminal == TERMINAL_STATUSES
