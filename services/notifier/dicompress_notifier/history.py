"""`JobHistory`: recent jobs' events in memory, so a late subscriber rarely needs Postgres.

Pure and synchronous: the feed adds to it and a new subscription snapshots it in the same loop
step as it registers for live events, so no event can fall between the two.
"""

from __future__ import annotations

import bisect
import heapq
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dicompress_notifier.model import JobEvent


@dataclass
class _Job:
    by_seq: dict[int, JobEvent] = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)  # sorted keys of by_seq
    ended_at: datetime | None = None


class JobHistory:
    """job_id -> events sorted by seq, one per seq (the first seen wins).

    Bounded two ways: a job whose terminal event occurred more than `window` ago is dropped,
    and beyond `max_jobs` the least recently active job is dropped. Both only cost a trip to
    Postgres for a subscriber who asks for that job later.
    """

    def __init__(self, window_s: float, max_jobs: int) -> None:
        self._window = timedelta(seconds=window_s)
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[uuid.UUID, _Job] = OrderedDict()
        self._ended: list[tuple[datetime, uuid.UUID]] = []  # min-heap of terminal times

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def add(self, event: JobEvent, now: datetime) -> bool:
        """Remember `event`; False if its seq was already held. Evicts what fell out of bounds."""
        job = self._jobs.get(event.job_id)
        if job is None:
            job = self._jobs[event.job_id] = _Job()
        self._jobs.move_to_end(event.job_id)
        added = event.seq not in job.by_seq
        if added:
            job.by_seq[event.seq] = event
            bisect.insort(job.seqs, event.seq)
            if event.terminal and job.ended_at is None:
                job.ended_at = event.occurred_at
                heapq.heappush(self._ended, (event.occurred_at, event.job_id))
        self.evict(now)
        return added

    def snapshot(self, job_id: uuid.UUID, since_seq: int) -> list[JobEvent]:
        """The held events with seq > since_seq in seq order, plus the terminal event even when
        its seq is <= since_seq: it tells the subscriber it already has the end."""
        job = self._jobs.get(job_id)
        if job is None:
            return []
        start = bisect.bisect_right(job.seqs, since_seq)
        events = [job.by_seq[s] for s in job.seqs[start:]]
        ends = [job.by_seq[s] for s in job.seqs[:start] if job.by_seq[s].terminal]
        return ends + events

    def highest(self, job_id: uuid.UUID) -> int | None:
        """The highest seq held of the job; None if none is."""
        job = self._jobs.get(job_id)
        return job.seqs[-1] if job is not None and job.seqs else None

    def evict(self, now: datetime) -> None:
        """Drop jobs that ended before the window, then the least recently active over the cap."""
        horizon = now - self._window
        while self._ended and self._ended[0][0] < horizon:
            ended_at, job_id = heapq.heappop(self._ended)
            job = self._jobs.get(job_id)
            if job is not None and job.ended_at == ended_at:
                del self._jobs[job_id]
        while len(self._jobs) > self._max_jobs:
            self._jobs.popitem(last=False)
