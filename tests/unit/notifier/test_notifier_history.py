"""JobHistory: ordered, deduplicated, bounded by the window and by the job cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from dicompress_notifier.history import JobHistory
from dicompress_notifier.model import JobEvent

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def ev(job: uuid.UUID, seq: int, *, terminal: bool = False, at: datetime = NOW) -> JobEvent:
    return JobEvent(job, seq, "acme", "X", terminal, at, b'{"seq":%d}' % seq)


def test_snapshot_is_sorted_and_deduplicated() -> None:
    history = JobHistory(window_s=900, max_jobs=10)
    job = uuid.uuid4()
    first = ev(job, 2)
    for event in [ev(job, 3), first, ev(job, 0), ev(job, 1)]:
        assert history.add(event, NOW)
    assert not history.add(ev(job, 2), NOW)  # a redelivery: the first copy stays
    snapshot = history.snapshot(job, -1)
    assert [e.seq for e in snapshot] == [0, 1, 2, 3]
    assert snapshot[2] is first
    assert [e.seq for e in history.snapshot(job, 1)] == [2, 3]
    assert history.snapshot(uuid.uuid4(), -1) == []


def test_snapshot_keeps_the_terminal_event_below_since() -> None:
    history = JobHistory(window_s=900, max_jobs=10)
    job = uuid.uuid4()
    for seq in range(3):
        history.add(ev(job, seq), NOW)
    history.add(ev(job, 3, terminal=True), NOW)
    assert [e.seq for e in history.snapshot(job, 5)] == [3]
    assert [e.seq for e in history.snapshot(job, 2)] == [3]


def test_jobs_that_ended_before_the_window_are_evicted() -> None:
    history = JobHistory(window_s=60, max_jobs=10)
    old, recent, running = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    history.add(ev(old, 0, terminal=True, at=NOW - timedelta(seconds=61)), NOW)
    history.add(ev(recent, 0, terminal=True, at=NOW - timedelta(seconds=30)), NOW)
    history.add(ev(running, 0, at=NOW - timedelta(seconds=600)), NOW)
    assert old not in history
    assert recent in history
    assert running in history  # not over yet: only the cap may drop it
    history.evict(NOW + timedelta(seconds=31))
    assert recent not in history
    assert running in history


def test_the_cap_drops_the_least_recently_active_job() -> None:
    history = JobHistory(window_s=900, max_jobs=2)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    history.add(ev(a, 0), NOW)
    history.add(ev(b, 0), NOW)
    history.add(ev(a, 1), NOW)  # a is active again: b is now the oldest
    history.add(ev(c, 0), NOW)
    assert len(history) == 2
    assert a in history
    assert c in history
    assert b not in history
