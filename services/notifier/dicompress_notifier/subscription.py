"""`Subscription`: delivers one job's events to one connection, exactly once, in seq order.

Without `since_seq` it starts with a snapshot of the job's projected row and the seq it
reflects; with one it resumes right after it. Either way the events come from the cache
snapshot, plus the head of the history from Postgres when the cache starts too late, then from
the live events the hub pushes. Postgres is asked again only when the live stream lags behind
it: when a `job_progress` notification says the projection is past what was sent, or when a
seq is missing between two received ones; and then through `CatchUp`, one read per job at
a time for all its subscriptions. What cannot be sent at all is said with a `gap`
frame followed by a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from dicompress_notifier.catchup import CatchUp
from dicompress_notifier.hub import Hub
from dicompress_notifier.model import Change, JobEvent
from dicompress_notifier.outbox import TRY_AGAIN_LATER, Outbox
from dicompress_notifier.protocol import GapReason, figures_frame, gap_frame, snapshot_frame
from dicompress_notifier.resume import end_seq, find_gap
from dicompress_notifier.sequencer import Sequencer
from dicompress_notifier.store import EventStore, JobState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """poll_first_s: how long the live stream may lag behind Postgres (a notification, or a
    missing seq) before Postgres is asked; doubled after every fruitless ask up to poll_max_s.
    give_up_s: how long a terminal event waits behind a missing seq before a `gap` frame and
    a fresh snapshot are sent, and then the terminal event (it must reach the client)."""

    poll_first_s: float = 1.0
    poll_max_s: float = 5.0
    give_up_s: float = 30.0


class Subscription:
    """One (connection, job) pair; `run` is its task, `push` and `poke` the hub's ways in."""

    def __init__(
        self,
        job_id: uuid.UUID,
        tenant: str,
        since_seq: int | None,
        *,
        hub: Hub,
        store: EventStore,
        catch_up: CatchUp,
        outbox: Outbox,
        max_queue: int,
        timing: Timing,
        end_after_projection: bool = True,
    ) -> None:
        self._job_id = job_id
        self.tenant = tenant
        self.since_seq = since_seq
        self._hub = hub
        self._store = store
        self._catch_up = catch_up
        self._outbox = outbox
        self._timing = timing
        # Read-your-writes: the terminal event waits in `_held` until the projection has
        # applied it (`_applied`: the highest seq it is known to hold, from the snapshot, the
        # notifications and the rows read from it), so GET /jobs/{id} answers the end from the
        # moment the client hears it.
        self._end_after_projection = end_after_projection
        self._applied = -1
        self._held: JobEvent | None = None
        self._inbox: asyncio.Queue[JobEvent | Change] = asyncio.Queue(max_queue)
        self._owner_known = False
        # what the projection's notifications said it holds: the highest seq, and whether
        # some may have been missed (then Postgres is read once)
        self._notified_seq = -1
        self._reread = False
        # the job's encoded slices as of the last event sent, when known exactly (for the
        # progress frames of a lagging client)
        self._slices_done: int | None = None
        # the cursor while `run` waits for its next item with nothing held back and no lag
        # (then `push` may release the next event itself); None otherwise
        self._live: Sequencer | None = None
        # the cursor while following the job's live events, after its snapshot or resumed head
        # went out and its owner proved to be this tenant: figures frames may go out then
        self._following: Sequencer | None = None
        # the newest figures notified for a seq not sent yet: they go out right after it
        self._figures: tuple[int, dict[str, Any]] | None = None

    @property
    def job_id(self) -> uuid.UUID:
        return self._job_id

    def push(self, event: JobEvent) -> None:
        """A live event from the hub; never blocks. A full inbox means the client cannot keep
        up: its connection is closed with 1013 rather than losing events silently.

        The next event in seq order, while `run` idles with an empty inbox, is released here
        at once: the task would release it as it is (nothing is held back, nothing lags), so
        this only spares it a wake-up per event and subscriber, the bulk of a fan-out's cost.
        Anything else (a terminal event, a seq out of order, another tenant's) goes through
        the inbox to the task."""
        live = self._live
        if (
            live is not None
            and event.seq == live.next_seq
            and not event.terminal
            and event.tenant == self.tenant
            and self._inbox.empty()
        ):
            self._send(live, [event])
            return
        self._offer(event)

    def poke(self, change: Change) -> None:
        """A change of the job in the projection; never blocks."""
        self._offer(change)

    def projected(self, change: Change) -> None:
        """Every notification of the job (the hub may spare the task a `poke`, not this);
        never blocks. Wakes the task when it holds a terminal event the projection now has,
        and sends the projection's figures at `change.last_seq`: only while following, so
        they never precede the snapshot, only for the job's owner, and never before the events
        up to their seq: they wait for them (the newest set wins)."""
        held = self._held
        if held is not None and change.last_seq is not None and change.last_seq >= held.seq:
            self._offer(change)
        following = self._following
        if following is None or change.tenant != self.tenant:
            return
        if change.figures is None or change.last_seq is None:
            return
        if self._figures is not None and self._figures[0] > change.last_seq:
            return  # older than the set already waiting
        self._figures = (change.last_seq, change.figures)
        if change.last_seq <= following.last_sent:
            self._send_figures()

    def _send_figures(self) -> None:
        if self._figures is not None:
            seq, figures = self._figures
            self._figures = None
            self._outbox.put(figures_frame(self._job_id, seq, figures), self._job_id)

    def _offer(self, item: JobEvent | Change) -> None:
        try:
            self._inbox.put_nowait(item)
        except asyncio.QueueFull:
            self._outbox.abort(
                TRY_AGAIN_LATER, "too slow: reconnect and subscribe with the last seq you have"
            )

    async def run(self) -> None:
        """Deliver until the terminal event is sent, or cancellation. A job that proves to be
        another tenant's is answered from then on exactly as a job nobody has heard of: an empty
        snapshot (unless resuming, or one was sent already), then nothing, until unsubscribed."""
        # join first, before any await: from here on no event can be missed
        cached = self._hub.join(self, -1 if self.since_seq is None else self.since_seq)
        try:
            seq = await self._start(cached)
            if seq is not None and not seq.foreign:
                self._following = seq
                await self._follow(seq)
            if seq is None or seq.foreign:
                await self._as_unknown(snapshot_sent=seq is not None)
        finally:
            self._following = None
            self._hub.leave(self)

    async def _as_unknown(self, *, snapshot_sent: bool) -> None:
        """Say about a foreign job what is said about an unknown one (which waits silently for
        events that never come), so a subscriber cannot tell another tenant's job from none."""
        self._hub.leave(self)  # its events are no business of this subscriber
        if not snapshot_sent and self.since_seq is None:
            self._outbox.put(snapshot_frame(self._job_id, -1, None), self._job_id)
        await asyncio.Event().wait()  # until unsubscribed or the connection goes

    async def _start(self, cached: list[JobEvent]) -> Sequencer | None:
        """Send the snapshot or the resumed head; None, before sending anything, if the job
        belongs to another tenant."""
        state = await self._store.job(self._job_id)
        if state is not None:
            self._owner_known = True
            if state.tenant != self.tenant:
                return None
            self._applied = max(self._applied, state.seq)
        if any(e.tenant != self.tenant for e in cached):
            return None  # the cache names another owner (every event of a job has its tenant)
        if self.since_seq is None:
            return await self._snapshot(state, cached)
        since = self.since_seq
        events = await self._head(cached, since) + cached
        gap = find_gap(since, events, state)
        if gap is not None and gap.reason is GapReason.NOT_IN_LOG:
            # the cache may have a hole that Postgres fills: ask for the whole rest first
            events += self._read(await self._store.events(self._job_id, self.tenant, since))
            gap = find_gap(since, events, state)
        if gap is not None:
            log.info(
                "resume impossible",
                extra={
                    "job_id": str(self._job_id),
                    "since_seq": since,
                    "reason": gap.reason.value,
                },
            )
            frame = gap_frame(self._job_id, since, gap.reason, gap.message)
            self._outbox.put(frame, self._job_id)
            return await self._snapshot(state, events, gap.resume_after)
        self._slices_done = 0 if since == -1 else None
        seq = Sequencer(self.tenant, since)
        end = end_seq(events, state)
        if end is not None and since >= end:
            seq.finished = True  # the client has the end already
        self._send(seq, events)
        return seq

    async def _snapshot(
        self, state: JobState | None, events: list[JobEvent], skip_to: int = -1
    ) -> Sequencer:
        """Send the job's row as it stands, then the events after the seq it reflects (and
        after `skip_to`, past a gap that no snapshot covers)."""
        at = -1 if state is None else state.seq
        self._outbox.put(
            snapshot_frame(self._job_id, at, None if state is None else state.fields),
            self._job_id,
        )
        self._slices_done = 0 if state is None else int(state.fields["slices_done"] or 0)
        if skip_to > at:
            self._slices_done = None  # the slices in the gap are counted nowhere
        start = max(at, skip_to)
        seq = Sequencer(self.tenant, start)
        if state is not None and state.final:
            seq.finished = True  # the snapshot shows the end
            return seq
        self._send(seq, await self._head(events, start) + events)
        return seq

    async def _head(self, held: list[JobEvent], after: int) -> list[JobEvent]:
        """What `held` lacks between `after` and its first seq, from Postgres."""
        first = min((e.seq for e in held if e.seq > after), default=None)
        if first == after + 1:
            return []
        return self._read(await self._store.events(self._job_id, self.tenant, after, first))

    def _read(self, events: list[JobEvent]) -> list[JobEvent]:
        """Events read from the projection: it has applied them."""
        self._applied = max([self._applied, *(e.seq for e in events)])
        return events

    async def _follow(self, seq: Sequencer) -> None:
        loop = asyncio.get_running_loop()
        delay = self._timing.poll_first_s
        ask_at: float | None = None  # when to ask Postgres for what the live stream lacks
        while self._held is not None or not (seq.finished or seq.foreign):
            deadline = ask_at
            if seq.terminal_pending and (since := seq.gap_since) is not None:
                give_up_at = since + self._timing.give_up_s
                deadline = give_up_at if deadline is None else min(deadline, give_up_at)
            item: JobEvent | Change | None
            if deadline is None:
                # the usual case: no timer to arm and cancel for every event, and `push` may
                # release in-order events itself meanwhile
                self._live = seq
                try:
                    item = await self._inbox.get()
                finally:
                    self._live = None
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await self._inbox.get()
                except TimeoutError:
                    item = None
            if isinstance(item, JobEvent):
                self._send(seq, [item])
            elif isinstance(item, Change):
                self._on_change(seq, item)
            now = loop.time()
            if not self._lagging(seq):
                ask_at, delay = None, self._timing.poll_first_s
            elif ask_at is None:
                ask_at = now + delay
            elif now >= ask_at:
                released = self._send(seq, await self._from_store(seq))
                # Postgres had everything it notified by the time it was read
                self._notified_seq, self._reread = -1, False
                delay = self._timing.poll_first_s if released else delay * 2
                delay = min(delay, self._timing.poll_max_s)
                ask_at = now + delay if seq.missing else None
            if seq.terminal_pending and (
                (seq.gap_age(now) or 0) >= self._timing.give_up_s or await self._hole_is_final(seq)
            ):
                await self._give_up(seq, now)

    async def _hole_is_final(self, seq: Sequencer) -> bool:
        """Are the seqs missing before the held end never coming? So once the projection has
        applied the end: a job's events after its request share one partition and are
        projected in its order, so what it lacks before the end was never logged (a re-run's
        failure past the seqs its crashed first run could have used: `attempts`). What it
        has of them is taken first."""
        terminal = seq.terminal_seq
        if terminal is None or seq.next_seq < 1 or self._applied < terminal:
            return False
        self._send(seq, await self._from_store(seq))
        return seq.terminal_pending

    def _lagging(self, seq: Sequencer) -> bool:
        """Does the live stream lack something Postgres has (or may have)? Or is the end held
        for a projection that has not said it applied it (a lost notification is then found
        by reading)?"""
        return (
            self._reread
            or self._notified_seq > seq.last_sent
            or bool(seq.missing)
            or self._held is not None
        )

    def _on_change(self, seq: Sequencer, change: Change) -> None:
        if change.tenant is not None:
            self._owner_known = True
            if change.tenant != self.tenant:
                seq.foreign = True
                return
        if change.last_seq is None:
            self._reread = True
        else:
            self._notified_seq = max(self._notified_seq, change.last_seq)
            self._applied = max(self._applied, change.last_seq)
            self._release()

    async def _give_up(self, seq: Sequencer, now: float) -> None:
        """The terminal event waited long enough behind missing seqs: say so, send a fresh
        snapshot, then what is held (the terminal event among it)."""
        missing = list(seq.missing)
        log.warning(
            "sending the end past missing events",
            extra={"job_id": str(self._job_id), "missing": missing},
        )
        message = f"seq {missing[0]} to {missing[-1]} never arrived" if missing else "lost"
        self._outbox.put(
            gap_frame(self._job_id, seq.last_sent, GapReason.MISSING_EVENTS, message),
            self._job_id,
        )
        state = await self._store.job(self._job_id)
        at = -1 if state is None else state.seq
        self._outbox.put(
            snapshot_frame(self._job_id, at, None if state is None else state.fields),
            self._job_id,
        )
        self._slices_done = None if state is None else state.fields["slices_done"]
        self._emit(seq.skip_gap(now))

    async def _from_store(self, seq: Sequencer) -> list[JobEvent]:
        await self._check_owner(seq)
        if seq.foreign:
            return []
        # shared with every other subscription of the job that lags as well
        events = self._read(await self._catch_up.events(self._job_id, self.tenant, seq.last_sent))
        self._release()
        return events

    async def _check_owner(self, seq: Sequencer) -> None:
        """Once the projection knows the job, a foreign owner ends the subscription."""
        if self._owner_known:
            return
        owner = await self._store.owner(self._job_id)
        if owner is not None:
            self._owner_known = True
            seq.foreign = seq.foreign or owner != self.tenant

    def _send(self, seq: Sequencer, events: list[JobEvent]) -> bool:
        """Offer events to the sequencer and send what it releases; True if anything went."""
        released = seq.offer(events, asyncio.get_running_loop().time())
        self._emit(released)
        return bool(released)

    def _emit(self, events: list[JobEvent]) -> None:
        for event in events:
            if event.terminal and self._end_after_projection and event.seq > self._applied:
                self._held = event  # the last one: nothing follows a terminal event
                continue
            if event.is_slice and self._slices_done is not None:
                self._slices_done += 1
            self._outbox.put_event(event, self._slices_done)
        waiting = self._figures
        last = events[-1] if events else None
        if (
            waiting is not None
            and last is not None
            and not last.terminal
            and waiting[0] <= last.seq
        ):
            self._send_figures()

    def _release(self) -> None:
        """Send the held terminal event once the projection has applied it."""
        held = self._held
        if held is not None and held.seq <= self._applied:
            self._held = None
            self._outbox.put_event(held, self._slices_done)
