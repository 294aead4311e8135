"""`CatchUp`: when the live stream lags behind Postgres, ONE read per job, shared by all.

Every subscription of a job sees the same live events from the hub, so when the Kafka feed
falls behind the projection they all lag at once and all want the same rows. Reading them once
per subscription (up to hundreds of queries per notification through a pool of 4) slowed the
notifier further behind: the fan-out benchmark stalled for tens of seconds that way. Here at
most one read of a job runs at a time; whoever asks meanwhile waits for it and takes its
result, and the rows read are handed to the hub, which pushes those it never had to every
subscription of the job, so most of them stop lagging before they would ask at all.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Protocol

from dicompress_notifier.hub import Hub
from dicompress_notifier.model import JobEvent


class EventReader(Protocol):
    """The part of `EventStore` a catch-up reads."""

    async def events(
        self, job_id: uuid.UUID, tenant: str, after_seq: int, before_seq: int | None = None
    ) -> list[JobEvent]: ...


class CatchUp:
    """Single-flight reads of a job's events after a seq, per (job, tenant)."""

    def __init__(self, store: EventReader, hub: Hub) -> None:
        self._store = store
        self._hub = hub
        # (job, tenant) -> (the seq the running read starts after, the read)
        self._running: dict[tuple[uuid.UUID, str], tuple[int, asyncio.Task[list[JobEvent]]]] = {}
        # for the metrics: catch-ups asked for, and reads of Postgres they took (the
        # difference is what one read per subscriber would have cost on top)
        self.requests = 0
        self.reads = 0

    async def events(self, job_id: uuid.UUID, tenant: str, after: int) -> list[JobEvent]:
        """`tenant`'s events of the job after `after` (and its terminal event wherever it is),
        from the running read of the job when it starts early enough, else from a new one."""
        key = (job_id, tenant)
        self.requests += 1
        while (running := self._running.get(key)) is not None and not running[1].done():
            start, read = running
            # shielded: a subscriber that goes away must not cancel the others' read
            events = await asyncio.shield(read)
            if start <= after:
                return [e for e in events if e.seq > after or e.terminal]
            # it started past what we lack: read our own once it is done (or join the next)
        read = asyncio.create_task(self._read(job_id, tenant, after))
        self._running[key] = (after, read)
        self.reads += 1
        read.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(read)

    async def _read(self, job_id: uuid.UUID, tenant: str, after: int) -> list[JobEvent]:
        events = await self._store.events(job_id, tenant, after)
        self._hub.fill(events)
        return events

    def _finished(self, key: tuple[uuid.UUID, str], read: asyncio.Task[list[JobEvent]]) -> None:
        running = self._running.get(key)
        if running is not None and running[1] is read:
            del self._running[key]
        if not read.cancelled():
            read.exception()  # retrieved here too: every waiter may have gone meanwhile
