"""find_gap: a resume is refused (gap) exactly when the events after since_seq are gone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dicompress_notifier.model import JobEvent
from dicompress_notifier.protocol import GapReason
from dicompress_notifier.resume import Gap, find_gap
from dicompress_notifier.store import JobState

AT = datetime(2025, 1, 1, tzinfo=UTC)
JOB = uuid.uuid4()


def events(*seqs: int, end: int | None = None) -> list[JobEvent]:
    return [JobEvent(JOB, s, "acme", "X", s == end, AT, b"{}") for s in seqs]


def state(seq: int, status: str = "running") -> JobState:
    return JobState("acme", seq, {"status": status})


@pytest.mark.parametrize("since", range(-1, 8))
def test_every_resume_of_a_complete_finished_job_is_possible(since: int) -> None:
    assert find_gap(since, events(*range(8), end=7), state(7, "completed")) is None


def test_a_resume_past_the_end_is_a_gap() -> None:
    gap = find_gap(9, events(*range(8), end=7), state(7, "completed"))
    assert gap == Gap(GapReason.BEYOND_END, "the job ended at seq 7, before 9", 7)
    # the end known from the row alone (its events all gone)
    assert find_gap(8, [], state(7, "failed")) is not None


def test_missing_stored_events_are_a_gap_resuming_after_the_last_hole() -> None:
    gap = find_gap(1, events(0, 1, 4, 5, 6, 7, end=7), state(7, "completed"))
    assert gap is not None
    assert (gap.reason, gap.resume_after) == (GapReason.NOT_IN_LOG, 3)
    assert "seq 2 to 3" in gap.message


def test_a_running_job_resumes_unless_since_is_past_everything_or_holes_are_stored() -> None:
    assert find_gap(3, events(*range(6)), state(5)) is None
    assert find_gap(5, events(*range(6)), state(5)) is None  # up to date: wait for more
    gap = find_gap(9, events(*range(6)), state(5))
    assert gap is not None
    assert (gap.reason, gap.resume_after) == (GapReason.BEYOND_LOG, 5)
    gap = find_gap(0, events(0, 1, 3), state(3))  # seq 2 applied by the projection, then lost
    assert gap is not None
    assert (gap.reason, gap.resume_after) == (GapReason.NOT_IN_LOG, 2)


def test_a_job_nobody_knows_yet_is_waited_for() -> None:
    assert find_gap(-1, [], None) is None
    assert find_gap(40, [], None) is None
    # events in flight past the projection are no gap: they are still coming
    assert find_gap(0, events(0, 1, 2, 5), state(2)) is None
