"""Pace, ETA, phase timings and per-slice rows: what issue 4 added to the pure fold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from dicompress_progress.slices import slice_row
from dicompress_schemas import Event, JobCompleted, SliceEncoded, changefeed, pace
from dicompress_schemas.figures import Figures
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.jobs import JobView, apply

JOB = uuid.UUID("00000000-0000-4000-8000-000000000009")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def job() -> JobHistory:
    """A history of JOB: `at=` in seconds after T0."""
    return JobHistory(JOB, "acme", start=T0, total=10)


REQUESTED = job().requested(20, at=0)
STARTED = job().started(at=2)


def encoded(index: int, at_s: float) -> SliceEncoded:
    return job().encoded(
        index,
        at=at_s,
        bytes_in=1000,
        bytes_out=50,
        ratio=20.0,
        slice_key=f"z/job/{index:04d}.dcm",
        sop_instance_uid=f"1.2.3.{index}",
        psnr_db=48.5,
        max_error_hu=7.0,
        max_abs_error=7,
    )


def completed(**fields: Any) -> JobCompleted:
    """The end after slices 0 and 1 (seq 4), 10 s after T0 and 8 s after the start."""
    return job().completed(seq=4, at=10, slices_encoded=2, slices_failed=0, wall_ms=8000, **fields)


def fold(events: list[Event]) -> JobView:
    view: JobView | None = None
    for event in events:
        view = apply(view, event)
    assert view is not None
    return view


def test_pace_follows_the_recent_gaps_and_gives_an_eta() -> None:
    # Slices every second, then every 3 seconds: the pace moves toward 3 s.
    times = [3, 4, 5, 6, 9, 12]
    view = fold([REQUESTED, STARTED, *(encoded(i, t) for i, t in enumerate(times))])
    assert view.slices_done == 6
    assert view.last_slice_at == T0 + timedelta(seconds=12)
    assert view.slice_interval_ms is not None
    assert 1000 < view.slice_interval_ms < 3000
    assert view.eta_at == view.last_slice_at + timedelta(milliseconds=4 * view.slice_interval_ms)


def test_one_slice_gives_no_pace_and_no_eta() -> None:
    view = fold([STARTED, encoded(0, 3)])
    assert (view.slice_interval_ms, view.eta_at) == (None, None)


def test_a_slice_out_of_time_order_counts_as_no_gap() -> None:
    assert pace.next_interval_ms(None, T0, T0 - timedelta(seconds=5)) == 0.0


def test_phase_timings_first_last_and_eta_cleared_at_the_end() -> None:
    done = completed(bytes_in=2000, bytes_out=100, ratio=20, cpu_s=1.5, peak_rss_bytes=123_456)
    # The request arrives last (another topic): queue_ms is corrected when it does.
    view = fold([STARTED, encoded(0, 3), encoded(1, 4), done, REQUESTED])
    assert (view.queue_ms, view.run_ms) == (2000.0, 8000.0)
    assert (view.first_event_at, view.last_event_at) == (T0, T0 + timedelta(seconds=10))
    assert view.eta_at is None
    assert (view.cpu_s, view.peak_rss_bytes) == (1.5, 123_456)


def test_figures_are_the_recent_pace_eta_and_size_weighted_ratio_so_far() -> None:
    """One formula for every reader (dicompress_schemas.figures): a 1000-byte slice at 20:1
    and a 3000-byte one at 10:1 make 4000 / (50 + 300) so far; the end gives the exact ratio
    and no pace."""
    big = encoded(1, 4).model_copy(update={"bytes_in": 3000, "ratio": 10.0})
    running = fold([REQUESTED, STARTED, encoded(0, 3), big])
    figures = running.figures
    assert figures.ratio == pytest.approx(4000 / 350)
    assert figures.slices_per_second == pytest.approx(1000 / running.slice_interval_ms)
    assert figures.eta_at == running.eta_at == T0 + timedelta(seconds=12)  # 8 left at 1 s
    ended = apply(running, completed(bytes_in=4000, bytes_out=400, ratio=11.0)).figures
    assert (ended.slices_per_second, ended.eta_at, ended.ratio) == (None, None, 11.0)


def test_figures_travel_as_json_and_refuse_what_is_not_theirs() -> None:
    figures = fold([REQUESTED, STARTED, encoded(0, 3), encoded(1, 4)]).figures
    assert Figures.from_json(orjson.loads(orjson.dumps(figures.as_json()))) == figures
    assert figures.eta_s(T0 + timedelta(seconds=10)) == 2.0
    assert figures.eta_s(T0 + timedelta(seconds=60)) == 0.0  # passed: due now, not negative
    assert Figures.from_json({"ratio": "9"}) is None
    assert Figures.from_json({"eta_at": "soon"}) is None
    assert Figures.from_json(["ratio", 9]) is None


def test_attempt_is_the_highest_run_seen() -> None:
    rerun = job().started(at=5, attempt=2, worker="w2")
    assert fold([REQUESTED, rerun]).attempt == 2


def test_encoded_slice_row_carries_key_sizes_ratio_and_quality() -> None:
    row = slice_row(encoded(3, 7))
    assert row is not None
    assert (row.slice_index, row.seq, row.status) == (3, 5, "encoded")
    assert (row.slice_key, row.bytes_in, row.bytes_out, row.ratio) == (
        "z/job/0003.dcm",
        1000,
        50,
        20,
    )
    assert (row.psnr_db, row.max_error_hu, row.max_abs_error) == (48.5, 7.0, 7)
    assert row.sop_instance_uid == "1.2.3.3"


def test_failed_slice_row_carries_the_cause() -> None:
    failed = job().slice_failed(0, at=3, reason="no pixels", error_code="no-pixel-data")
    row = slice_row(failed)
    assert row is not None
    assert (row.status, row.error_code, row.reason, row.slice_key) == (
        "failed",
        "no-pixel-data",
        "no pixels",
        None,
    )


@pytest.mark.parametrize("event", [REQUESTED, STARTED])
def test_other_events_have_no_slice_row(event: Event) -> None:
    assert slice_row(event) is None


def test_feed_payload_is_a_small_snapshot() -> None:
    view = fold([REQUESTED, STARTED, encoded(0, 3), encoded(1, 4)])
    text = changefeed.payload(view)
    assert len(text.encode()) < 8000  # Postgres's NOTIFY payload limit
    assert changefeed.parse(text) == changefeed.Change(JOB, view.tenant, 3, view.figures.as_json())
    snapshot = orjson.loads(text)
    assert snapshot["job_id"] == str(JOB)
    assert (snapshot["status"], snapshot["last_seq"], snapshot["slices_done"]) == ("running", 3, 2)
    assert snapshot["eta_at"] == view.eta_at.isoformat() if view.eta_at else None
