"""`Subscription`: delivers one job's events to one connection, exactly once, in seq order.

It starts from the cache snapshot (plus the head of the history from Postgres when the cache
starts too late), then follows the live events the hub pushes. Whatever the live stream misses
(a seq still in flight on the other topic, an event the cache never saw) is fetched from
Postgres once nothing has been released for a while, with a backoff.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from dicompress_notifier.hub import Hub
from dicompress_notifier.model import JobEvent
from dicompress_notifier.outbox import TRY_AGAIN_LATER, Outbox
from dicompress_notifier.protocol import ErrorCode, error_frame, event_frame
from dicompress_notifier.sequencer import Sequencer
from dicompress_notifier.store import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """poll_first_s: quiet time before Postgres is asked for what the live stream lacks;
    doubled after every fruitless ask up to poll_max_s. give_up_s: how long a terminal event
    waits behind a missing seq before it is sent anyway (it must reach the client)."""

    poll_first_s: float = 2.0
    poll_max_s: float = 5.0
    give_up_s: float = 30.0


class Subscription:
    """One (connection, job) pair; `run` is its task, `push` the hub's way in."""

    def __init__(
        self,
        job_id: uuid.UUID,
        tenant: str,
        since_seq: int,
        *,
        hub: Hub,
        store: EventStore,
        outbox: Outbox,
        max_queue: int,
        timing: Timing,
    ) -> None:
        self._job_id = job_id
        self.tenant = tenant
        self.since_seq = since_seq
        self._hub = hub
        self._store = store
        self._outbox = outbox
        self._timing = timing
        self._inbox: asyncio.Queue[JobEvent] = asyncio.Queue(max_queue)
        self._owner_known = False

    @property
    def job_id(self) -> uuid.UUID:
        return self._job_id

    def push(self, event: JobEvent) -> None:
        """A live event from the hub; never blocks. A full inbox means the client cannot keep
        up: its connection is closed with 1013 rather than losing events silently."""
        try:
            self._inbox.put_nowait(event)
        except asyncio.QueueFull:
            self._outbox.abort(
                TRY_AGAIN_LATER, "too slow: reconnect and subscribe with the last seq you have"
            )

    async def run(self) -> None:
        """Deliver until the terminal event is sent, the job proves foreign, or cancellation."""
        # join first, before any await: from here on no event can be missed
        snapshot = self._hub.join(self, self.since_seq)
        try:
            seq = Sequencer(self.tenant, self.since_seq)
            await self._check_owner(seq)
            if not seq.foreign:
                await self._send(seq, await self._head(snapshot) + snapshot)
                await self._follow(seq)
            if seq.foreign:
                await self._outbox.put(
                    error_frame(ErrorCode.NOT_FOUND, f"no job {self._job_id}", self._job_id)
                )
        finally:
            self._hub.leave(self)

    async def _head(self, snapshot: list[JobEvent]) -> list[JobEvent]:
        """What the cache lacks between since_seq and its first held seq, from Postgres."""
        first = min((e.seq for e in snapshot if e.seq > self.since_seq), default=None)
        if first == self.since_seq + 1:
            return []
        return await self._store.events(self._job_id, self.tenant, self.since_seq, first)

    async def _follow(self, seq: Sequencer) -> None:
        loop = asyncio.get_running_loop()
        delay = self._timing.poll_first_s
        check_at = loop.time() + delay
        while not (seq.finished or seq.foreign):
            try:
                async with asyncio.timeout_at(check_at):
                    events = [await self._inbox.get()]
            except TimeoutError:
                events = await self._from_store(seq)
                delay = min(delay * 2, self._timing.poll_max_s)
                check_at = loop.time() + delay
            if await self._send(seq, events):
                delay = self._timing.poll_first_s
                check_at = loop.time() + delay
            elif seq.terminal_pending and (seq.gap_age(loop.time()) or 0) >= self._timing.give_up_s:
                log.warning(
                    "sending the end past missing events",
                    extra={"job_id": str(self._job_id), "missing": list(seq.missing)},
                )
                await self._emit(seq.skip_gap(loop.time()))

    async def _from_store(self, seq: Sequencer) -> list[JobEvent]:
        await self._check_owner(seq)
        if seq.foreign:
            return []
        return await self._store.events(self._job_id, self.tenant, seq.last_sent)

    async def _check_owner(self, seq: Sequencer) -> None:
        """Once the projection knows the job, a foreign owner ends the subscription."""
        if self._owner_known:
            return
        owner = await self._store.owner(self._job_id)
        if owner is not None:
            self._owner_known = True
            seq.foreign = seq.foreign or owner != self.tenant

    async def _send(self, seq: Sequencer, events: list[JobEvent]) -> bool:
        """Offer events to the sequencer and send what it releases; True if anything went."""
        released = seq.offer(events, asyncio.get_running_loop().time())
        await self._emit(released)
        return bool(released)

    async def _emit(self, events: list[JobEvent]) -> None:
        for event in events:
            await self._outbox.put(event_frame(event))
