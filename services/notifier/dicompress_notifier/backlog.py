"""`Backlog`: one connection's frames waiting to be written, coalesced when the client lags.

Pure and synchronous (no socket, no clock), so the coalescing rules are tested on their own.
While the backlog is short every frame goes out as it is. Once it holds `coalesce_at` frames,
the client is behind: a new per-slice update of a job replaces that job's pending per-slice
frames by ONE `progress` frame with the latest seq (latest wins). Anything else (a job's start,
a failed slice, and above all its terminal event) is never dropped or merged. Per job the seqs
the client receives still only go up: the progress frame takes the place of the job's last
pending frame, and a non-slice frame queued after it starts a new one.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

from dicompress_notifier.model import JobEvent
from dicompress_notifier.protocol import progress_frame


@dataclass
class Progress:
    """Per-slice updates of a job folded together: what a `progress` frame says."""

    job_id: uuid.UUID
    seq: int  # the latest seq folded in
    slices_total: int | None
    slices_done: int | None  # the job's encoded slices as of `seq`, when the sender knows it
    slice_indexes: list[int] = field(default_factory=list)
    coalesced: int = 0  # SliceEncoded events folded in

    def fold(self, other: Progress) -> None:
        """Take in a later update (latest wins for seq and counts)."""
        self.seq = max(self.seq, other.seq)
        self.slices_total = other.slices_total or self.slices_total
        if other.slices_done is not None:
            self.slices_done = other.slices_done
        self.slice_indexes.extend(other.slice_indexes)
        self.coalesced += other.coalesced


@dataclass
class _Entry:
    job_id: uuid.UUID | None
    text: str | None  # the frame, or None for a progress frame rendered when written
    progress: Progress | None = None  # per-slice entries only
    merged: bool = False  # already a `progress` frame

    def render(self) -> str:
        if self.text is not None and not self.merged:
            return self.text
        assert self.progress is not None  # a merged entry always has its progress
        p = self.progress
        return progress_frame(
            p.job_id, p.seq, p.slices_total, p.slices_done, sorted(p.slice_indexes), p.coalesced
        )


def slice_progress(event: JobEvent, slices_done: int | None) -> Progress:
    """The progress one SliceEncoded event stands for."""
    assert event.slice_index is not None  # callers check `event.is_slice`
    return Progress(
        event.job_id, event.seq, event.total_slices, slices_done, [event.slice_index], 1
    )


class Backlog:
    """FIFO of frames; `overflowing` once more than `limit` are held even after coalescing."""

    def __init__(self, coalesce_at: int, limit: int) -> None:
        if not 0 < coalesce_at <= limit:
            raise ValueError(f"need 0 < coalesce_at ({coalesce_at}) <= limit ({limit})")
        self._coalesce_at = coalesce_at
        self._limit = limit
        self._queue: deque[_Entry] = deque()
        self._last: dict[uuid.UUID, _Entry] = {}  # each job's newest pending entry
        self.coalesced = 0  # SliceEncoded frames replaced so far (for the metrics)

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def overflowing(self) -> bool:
        return len(self._queue) > self._limit

    def put(self, text: str, job_id: uuid.UUID | None = None) -> None:
        """A frame that must go out as it is (replies, snapshots, non-slice events)."""
        self._append(_Entry(job_id, text))

    def put_slice(self, text: str, progress: Progress) -> None:
        """A SliceEncoded event frame, which may be coalesced while the client lags."""
        job_id = progress.job_id
        if len(self._queue) < self._coalesce_at:
            self._append(_Entry(job_id, text, progress))
            return
        last = self._last.get(job_id)
        if last is not None and last.merged and last.progress is not None:
            last.progress.fold(progress)  # already the job's newest frame: fold in place
            self.coalesced += 1
            return
        pulled = [e for e in self._queue if e.job_id == job_id and e.progress is not None]
        self._queue = deque(e for e in self._queue if not (e.job_id == job_id and e.progress))
        merged = Progress(job_id, progress.seq, progress.slices_total, None)
        for entry in pulled:
            assert entry.progress is not None
            merged.fold(entry.progress)
            self.coalesced += 0 if entry.merged else 1
        merged.fold(progress)
        self.coalesced += 1
        self._last.pop(job_id, None)
        for entry in reversed(self._queue):  # the job's newest entry left, if any
            if entry.job_id == job_id:
                self._last[job_id] = entry
                break
        self._append(_Entry(job_id, None, merged, merged=True))

    def pop(self) -> str:
        """The oldest frame; raises IndexError when empty."""
        entry = self._queue.popleft()
        if entry.job_id is not None and self._last.get(entry.job_id) is entry:
            del self._last[entry.job_id]
        return entry.render()

    def _append(self, entry: _Entry) -> None:
        self._queue.append(entry)
        if entry.job_id is not None:
            self._last[entry.job_id] = entry
