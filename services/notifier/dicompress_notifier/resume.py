"""`find_gap`: can a subscriber who has everything up to `since_seq` be given exactly the rest?

Pure: it looks at the events at hand (cache plus Postgres) and the job's projected row. When the
answer is no, the subscriber gets an explicit `gap` frame and a fresh snapshot instead of a
stream with a silent hole in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicompress_notifier.model import JobEvent
from dicompress_notifier.protocol import GapReason
from dicompress_notifier.store import JobState


@dataclass(frozen=True)
class Gap:
    """What cannot be sent: why, in words, and the seq after which events can flow again."""

    reason: GapReason
    message: str
    resume_after: int


def end_seq(events: list[JobEvent], state: JobState | None) -> int | None:
    """The seq of the job's terminal event, if the job is known to be over."""
    ends = [e.seq for e in events if e.terminal]
    if ends:
        return min(ends)
    if state is not None and state.final:
        return state.seq
    return None


def find_gap(since_seq: int, events: list[JobEvent], state: JobState | None) -> Gap | None:
    """Why the events after `since_seq` cannot all be sent, or None if they can (now or once
    they arrive). `events`: every event at hand, in any order."""
    have = {e.seq for e in events}
    end = end_seq(events, state)
    if end is not None:
        if since_seq > end:
            return Gap(GapReason.BEYOND_END, f"the job ended at seq {end}, before {since_seq}", end)
        return _holes(since_seq, end, have)
    if state is None and not have:
        return None  # a job nobody has heard of yet: wait for it
    highest = max([*have, -1 if state is None else state.seq])
    if since_seq > highest:
        message = f"the job's last seq is {highest}, before {since_seq}"
        return Gap(GapReason.BEYOND_LOG, message, highest)
    # seqs the projection has applied (so stored in the same transaction) but that neither it
    # nor the cache holds any more: gone for good
    return _holes(since_seq, -1 if state is None else state.seq, have)


def _holes(since_seq: int, last: int, have: set[int]) -> Gap | None:
    missing = [s for s in range(since_seq + 1, last + 1) if s not in have]
    if not missing:
        return None
    message = f"{_count(missing)} of the job are no longer stored"
    return Gap(GapReason.NOT_IN_LOG, message, missing[-1])


def _count(missing: list[int]) -> str:
    if len(missing) == 1:
        return f"seq {missing[0]}"
    return f"{len(missing)} events (seq {missing[0]} to {missing[-1]})"
