"""Sequencer: exactly once, in seq order, no gaps, only the subscriber's tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dicompress_notifier.model import JobEvent
from dicompress_notifier.sequencer import Sequencer

JOB = uuid.uuid4()
AT = datetime(2025, 1, 1, tzinfo=UTC)


def ev(seq: int, *, tenant: str = "acme", terminal: bool = False) -> JobEvent:
    return JobEvent(JOB, seq, tenant, "X", terminal, AT, b"{}")


def seqs(events: list[JobEvent]) -> list[int]:
    return [e.seq for e in events]


def test_out_of_order_events_come_out_in_order_once() -> None:
    s = Sequencer("acme", -1)
    assert seqs(s.offer([ev(1), ev(2)], now=0)) == []
    assert list(s.missing) == [0]
    assert seqs(s.offer([ev(0)], now=1)) == [0, 1, 2]
    assert seqs(s.offer([ev(1), ev(2), ev(0)], now=2)) == []  # duplicates
    assert seqs(s.offer([ev(4), ev(3)], now=3)) == [3, 4]
    assert s.last_sent == 4


def test_since_seq_skips_what_the_client_has() -> None:
    s = Sequencer("acme", 3)
    assert seqs(s.offer([ev(0), ev(1), ev(2), ev(3), ev(4)], now=0)) == [4]


def test_gap_age_tracks_how_long_events_are_held_back() -> None:
    s = Sequencer("acme", -1)
    assert s.gap_age(now=5) is None
    s.offer([ev(2)], now=10)
    assert s.gap_age(now=12) == 2
    s.offer([ev(3)], now=13)  # still blocked on the same hole: age keeps counting
    assert s.gap_age(now=14) == 4
    s.offer([ev(0)], now=15)  # 0 released, 1 still missing: a new wait starts
    assert s.gap_age(now=16) == 1
    s.offer([ev(1)], now=17)
    assert s.gap_age(now=18) is None


def test_terminal_event_finishes_and_later_events_are_ignored() -> None:
    s = Sequencer("acme", -1)
    assert seqs(s.offer([ev(0), ev(1, terminal=True), ev(2)], now=0)) == [0, 1]
    assert s.finished
    assert s.offer([ev(3)], now=1) == []


def test_a_terminal_event_the_client_already_has_finishes_silently() -> None:
    s = Sequencer("acme", 7)
    assert s.offer([ev(5, terminal=True)], now=0) == []
    assert s.finished


def test_other_tenants_events_are_never_released() -> None:
    s = Sequencer("acme", -1)
    assert s.offer([ev(0, tenant="evil"), ev(1, tenant="evil", terminal=True)], now=0) == []
    assert s.foreign
    assert not s.finished


def test_skip_gap_releases_a_stuck_terminal_event() -> None:
    s = Sequencer("acme", -1)
    s.offer([ev(0), ev(2), ev(3, terminal=True)], now=0)
    assert s.terminal_pending
    assert list(s.missing) == [1]
    assert seqs(s.skip_gap(now=30)) == [2, 3]
    assert s.finished
    assert s.gap_age(now=31) is None
