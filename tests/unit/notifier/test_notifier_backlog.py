"""Backlog: frames go out as they are until the client lags, then a job's per-slice updates
fold into one progress frame (latest wins) while every other frame is kept, in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from dicompress_notifier.backlog import Backlog, slice_progress
from dicompress_notifier.model import JobEvent

AT = datetime(2025, 1, 1, tzinfo=UTC)
TOTAL = 50


def slice_event(job: uuid.UUID, seq: int) -> JobEvent:
    return JobEvent(job, seq, "acme", "SliceEncoded", False, AT, b"{}", seq - 2, TOTAL)


def put_slice(backlog: Backlog, job: uuid.UUID, seq: int, done: int | None = None) -> None:
    event = slice_event(job, seq)
    backlog.put_slice(f"slice {job} {seq}", slice_progress(event, done))


def drain(backlog: Backlog) -> list[Any]:
    """Plain frames as their text, progress frames decoded."""
    out: list[Any] = []
    while backlog:
        text = backlog.pop()
        out.append(orjson.loads(text) if text.startswith("{") else text)
    return out


def test_frames_pass_unchanged_below_the_threshold() -> None:
    backlog = Backlog(coalesce_at=10, limit=20)
    job = uuid.uuid4()
    backlog.put("started", job)
    for seq in range(2, 6):
        put_slice(backlog, job, seq)
    assert drain(backlog) == ["started"] + [f"slice {job} {s}" for s in range(2, 6)]
    assert backlog.coalesced == 0


def test_a_lagging_backlog_folds_a_jobs_slices_into_one_progress_frame() -> None:
    backlog = Backlog(coalesce_at=3, limit=10)
    job, other = uuid.uuid4(), uuid.uuid4()
    backlog.put("started", job)
    put_slice(backlog, job, 2, done=1)
    backlog.put("other job's event", other)
    for seq in range(3, 8):  # the backlog holds 3: these fold, with the pending seq 2
        put_slice(backlog, job, seq, done=seq - 1)
    assert len(backlog) == 3
    frames = drain(backlog)
    assert frames[:2] == ["started", "other job's event"]
    assert frames[2] == {
        "op": "progress",
        "job_id": str(job),
        "seq": 7,  # the latest
        "slices_total": TOTAL,
        "slices_done": 6,  # latest wins
        "slice_indexes": [0, 1, 2, 3, 4, 5],
        "coalesced": 6,
    }
    assert backlog.coalesced == 6


def test_terminal_and_other_events_are_never_dropped_and_seqs_only_go_up() -> None:
    backlog = Backlog(coalesce_at=2, limit=100)
    job = uuid.uuid4()
    backlog.put("seq 0", job)
    backlog.put("seq 1", job)
    put_slice(backlog, job, 2)
    put_slice(backlog, job, 3)
    backlog.put("seq 4 SliceFailed", job)
    put_slice(backlog, job, 5)
    put_slice(backlog, job, 6)
    backlog.put("seq 7 JobCompleted", job)
    frames = drain(backlog)
    texts = [f if isinstance(f, str) else f"progress {f['seq']}" for f in frames]
    # slices before the SliceFailed fold in place of the newest; then a new fold after it
    assert texts == [
        "seq 0",
        "seq 1",
        "seq 4 SliceFailed",
        "progress 6",
        "seq 7 JobCompleted",
    ]
    progress = frames[3]
    assert progress["slice_indexes"] == [0, 1, 3, 4]


def test_jobs_are_coalesced_separately() -> None:
    backlog = Backlog(coalesce_at=1, limit=100)
    a, b = uuid.uuid4(), uuid.uuid4()
    backlog.put("hello")
    for seq in range(2, 5):
        put_slice(backlog, a, seq)
        put_slice(backlog, b, seq)
    frames = drain(backlog)
    assert frames[0] == "hello"
    assert {(f["job_id"], f["seq"], f["coalesced"]) for f in frames[1:]} == {
        (str(a), 4, 3),
        (str(b), 4, 3),
    }


def test_overflow_only_past_the_limit_after_coalescing() -> None:
    backlog = Backlog(coalesce_at=2, limit=4)
    job = uuid.uuid4()
    for seq in range(2, 200):
        put_slice(backlog, job, seq)
    assert not backlog.overflowing  # 200 slices fit in one progress frame
    for i in range(4):
        backlog.put(f"terminal of another job {i}", uuid.uuid4())
    assert backlog.overflowing


@pytest.mark.parametrize(("coalesce_at", "limit"), [(0, 5), (6, 5)])
def test_bad_bounds_are_refused(coalesce_at: int, limit: int) -> None:
    with pytest.raises(ValueError, match="coalesce_at"):
        Backlog(coalesce_at, limit)
