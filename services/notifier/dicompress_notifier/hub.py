"""`Hub`: the registry of subscriptions and the one place live events fan out from.

Nothing here awaits: `publish` hands each event to the cache and to every listener of its job
without blocking, so one slow client never holds up the feed or the other clients.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from dicompress_notifier.history import JobHistory
from dicompress_notifier.model import Change, JobEvent
from dicompress_schemas import changefeed

log = logging.getLogger(__name__)


class Listener(Protocol):
    """A subscription as the hub sees it."""

    @property
    def job_id(self) -> uuid.UUID: ...

    def push(self, event: JobEvent) -> None:
        """Take a live event without blocking (a full listener closes its own connection)."""

    def poke(self, change: Change) -> None:
        """The projection changed the job: catch up from Postgres if the live stream lags."""

    def projected(self, change: Change) -> None:
        """Every notification of the job, with its figures; never blocks."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Hub:
    """job_id -> listeners, plus the history cache they snapshot when they join."""

    def __init__(self, history: JobHistory, clock: Callable[[], datetime] = _utc_now) -> None:
        self.history = history
        self._clock = clock
        self._listeners: dict[uuid.UUID, set[Listener]] = {}
        self.published = 0  # events taken so far (the metrics read it)
        self.filled = 0  # events found by catch-up reads that the live stream had not brought
        self.changes_skipped = 0  # notifications the live stream had already covered

    def publish(self, event: JobEvent) -> None:
        """Cache `event`, then hand it to every listener of its job (they drop duplicates)."""
        self.published += 1
        self.history.add(event, self._clock())
        for listener in tuple(self._listeners.get(event.job_id, ())):
            listener.push(event)

    def fill(self, events: list[JobEvent]) -> None:
        """Events read from Postgres because the live stream lagged: cache them and hand the
        ones the hub never had to the listeners of their job, so that they all catch up from
        one read (see `CatchUp`)."""
        now = self._clock()
        for event in events:
            if self.history.add(event, now):
                self.filled += 1
                for listener in tuple(self._listeners.get(event.job_id, ())):
                    listener.push(event)

    def notified(self, payload: str) -> None:
        """A change-feed notification (the shared LISTEN's callback): wake its job's listeners,
        or log and drop a payload that is not the contract's."""
        try:
            change = changefeed.parse(payload)
        except ValueError as exc:
            log.warning("ignored a malformed notification", extra={"reason": str(exc)})
            return
        # every notification, even one the live stream is ahead of: only the projection
        # computes the figures (dicompress_schemas.figures), and it alone can say it applied a
        # job's end (a subscription holds the terminal event until it has)
        for listener in tuple(self._listeners.get(change.job_id, ())):
            listener.projected(change)
        self.wake(change)

    def wake(self, change: Change) -> None:
        """Tell the listeners of `change.job_id` the projection moved (from LISTEN/NOTIFY).

        Usually the Kafka feed is ahead of the projection: when the hub already holds an event
        at or past the notified seq, every listener has been handed it (or has read what comes
        before the cache), so waking them would only cost a task switch each. A listener that
        lacks a seq below it notices the hole itself."""
        if change.last_seq is not None:
            highest = self.history.highest(change.job_id)
            if highest is not None and highest >= change.last_seq:
                self.changes_skipped += 1
                return
        for listener in tuple(self._listeners.get(change.job_id, ())):
            listener.poke(change)

    def wake_all(self) -> None:
        """Notifications may have been lost (the LISTEN connection dropped): poke everyone."""
        for job_id, listeners in tuple(self._listeners.items()):
            for listener in tuple(listeners):
                listener.poke(Change(job_id))

    def join(self, listener: Listener, since_seq: int) -> list[JobEvent]:
        """Register for live events and return the cached ones after `since_seq`.

        Both happen in one step with no await between, so every event is either in the
        snapshot or pushed later (or both): never neither.
        """
        self._listeners.setdefault(listener.job_id, set()).add(listener)
        return self.history.snapshot(listener.job_id, since_seq)

    def leave(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.job_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.job_id]

    def listener_count(self) -> int:
        return sum(len(s) for s in self._listeners.values())
