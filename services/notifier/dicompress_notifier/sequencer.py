"""`Sequencer`: one subscription's cursor and reorder buffer (pure, no clock of its own).

A job's events reach the notifier from two topics, from the cache and from Postgres, so they
can come out of order and more than once. The sequencer releases them exactly once, in seq
order, with no gaps, and only if they belong to the subscriber's tenant.
"""

from __future__ import annotations

from dicompress_notifier.model import JobEvent


class Sequencer:
    """Releases seqs since_seq+1, since_seq+2, ... as each becomes contiguous."""

    def __init__(self, tenant: str, since_seq: int) -> None:
        self.tenant = tenant
        self.next_seq = since_seq + 1
        self.finished = False  # the terminal event is released (or the client had it already)
        self.foreign = False  # the job turned out to belong to another tenant
        self._pending: dict[int, JobEvent] = {}
        self._gap_since: float | None = None

    @property
    def last_sent(self) -> int:
        return self.next_seq - 1

    @property
    def missing(self) -> range:
        """The seqs the buffer waits for (empty when nothing is held back)."""
        if not self._pending:
            return range(0)
        return range(self.next_seq, min(self._pending))

    @property
    def terminal_pending(self) -> bool:
        return any(e.terminal for e in self._pending.values())

    @property
    def terminal_seq(self) -> int | None:
        """The seq of the terminal event held back, if one is."""
        return min((s for s, e in self._pending.items() if e.terminal), default=None)

    @property
    def gap_since(self) -> float | None:
        """When events started being held back by a missing seq; None if none are."""
        return self._gap_since

    def gap_age(self, now: float) -> float | None:
        """How long events have been held back by a missing seq; None if none are."""
        return None if self._gap_since is None else now - self._gap_since

    def offer(self, events: list[JobEvent], now: float) -> list[JobEvent]:
        """Take events in any order; return the ones now releasable, in seq order."""
        for event in events:
            self._take(event)
        return self._release(now)

    def skip_gap(self, now: float) -> list[JobEvent]:
        """Give up on the missing seqs: release what is held. Only for a terminal event that
        would otherwise never reach the client; the hole is the price."""
        if self._pending:
            self.next_seq = min(self._pending)
        return self._release(now)

    def _take(self, event: JobEvent) -> None:
        if self.finished:
            return
        if event.tenant != self.tenant:
            self.foreign = True
            return
        if event.seq < self.next_seq:
            if event.terminal:
                self.finished = True  # an end the client already has: nothing more will come
            return
        self._pending.setdefault(event.seq, event)

    def _release(self, now: float) -> list[JobEvent]:
        out: list[JobEvent] = []
        while not self.finished and (event := self._pending.pop(self.next_seq, None)) is not None:
            out.append(event)
            self.next_seq += 1
            self.finished = event.terminal
        if self.finished:
            self._pending.clear()
        if not self._pending:
            self._gap_since = None
        elif out or self._gap_since is None:
            self._gap_since = now  # a new gap, or the old one moved on
        return out
