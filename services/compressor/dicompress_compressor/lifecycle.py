"""The life of one job on the event log, whatever it makes (a compression, a preview, a Mini
CT): its envelopes, its emits (the seq of the next event always known, so the terminal event
of a first run leaves no gap), its cancellation, and the terminal event that always closes it.

A failure or a cancel takes the next seq, or the run's floor when that is higher: a re-run
that ends earlier than a crashed earlier run had got must not land on a seq that run used (the
contract's `attempts` rule). The floor is learnt by the job's `prepare` step (which registers
the run), before the cancel is looked at, so a job cancelled before it starts knows it too.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dicompress_compressor.attempts import RunMarkers
from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.errors import CompressorError
from dicompress_compressor.storage import ObjectStore
from dicompress_infra.running import until_set
from dicompress_schemas import (
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    TerminalEvent,
    new_event_id,
)
from dicompress_schemas.attempts import terminal_seq

log = logging.getLogger(__name__)

Emit = Callable[[EventBase], Awaitable[None]]
Work = Callable[[], Awaitable[JobCompleted]]
Prepare = Callable[[], Awaitable[None]]
T = TypeVar("T")
_REASON_MAX = 1000


class JobAborted(CompressorError):
    """The job cannot go on; `error_code` and `reason` become its JobFailed."""

    def __init__(self, error_code: str, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason


class JobLifecycle:
    """Envelopes and emits of one run of job `job_id`, and its terminal event. `attempt` is
    which run this is and `floor` the lowest seq its failure or cancel may take, once the job
    knows them (`register`: every job registers its run in its target bucket)."""

    def __init__(
        self, job_id: uuid.UUID, tenant: str, emit: Emit, cancellations: CancelRegistry
    ) -> None:
        self.job_id = job_id
        self.tenant = tenant
        self._emit = emit
        self.cancellations = cancellations
        self.attempt = 1
        self.floor = 1
        self.next_seq = 1  # a terminal event takes this seq (or the floor, if higher)
        self.started = time.perf_counter()
        self.log_extra: dict[str, Any] = {"job_id": str(job_id), "tenant": tenant}
        self._sending: asyncio.Future[None] | None = None

    def envelope(self, seq: int) -> dict[str, Any]:
        return {
            "event_id": new_event_id(self.job_id, seq),  # attempt 1 always: a re-run's ids match
            "job_id": self.job_id,
            "seq": seq,
            "attempt": self.attempt,
            "tenant": self.tenant,
        }

    async def emit(self, event: EventBase) -> None:
        # The seq is taken before sending: if a cancel interrupts the send, the event may
        # still reach the broker, and JobCancelled must not reuse its seq.
        self.next_seq = event.seq + 1
        self._sending = asyncio.ensure_future(self._emit(event))
        await asyncio.shield(self._sending)
        extra = {**self.log_extra, "event_type": event.__class__.__name__, "seq": event.seq}
        log.debug("event emitted", extra=extra)

    async def register(self, store: ObjectStore, bucket: str, worker: str) -> RunMarkers:
        """Register this run in the job's attempts folder of `bucket` (the target's): learn its
        number and floor; the markers, to record the run's ceiling in later."""
        markers = RunMarkers.of(store, bucket, self.tenant, self.job_id, worker)
        attempt = await markers.register()
        self.attempt, self.floor = attempt.number, attempt.floor
        return markers

    async def run(self, work: Work, prepare: Prepare | None = None) -> TerminalEvent:
        """Run `prepare` (checks and the run's registration: short, not cancelled) and then
        `work`, emit the terminal event (JobFailed for a JobAborted or a surprise, JobCancelled
        as soon as the job is cancelled) and return it."""
        cancelled = self.cancellations.watch(self.job_id)
        try:
            terminal: TerminalEvent | None = None
            if prepare is not None:
                terminal = await self._outcome(prepare)  # None: prepared
            if terminal is None:
                terminal = await self._unless_cancelled(cancelled, work)
        finally:
            self.cancellations.unwatch(self.job_id)
        await self.emit(terminal)
        wall_ms = (time.perf_counter() - self.started) * 1000.0
        extra = {**self.log_extra, "event_type": terminal.type, "seq": terminal.seq}
        log.info("job finished", extra={**extra, "wall_ms": wall_ms})
        return terminal

    async def _unless_cancelled(self, cancelled: asyncio.Event, work: Work) -> TerminalEvent:
        if not cancelled.is_set():
            # cancelled, or we are: the slices in flight are stopped
            task = await until_set(cancelled, self._outcome(work))
            if not task.cancelled():
                return task.result()  # raises if an event could not be emitted
            if self._sending is not None:  # let an event already on its way land first
                await self._sending
        reason = self.cancellations.reason(self.job_id) or "cancelled"
        log.info("job cancelled", extra={**self.log_extra, "reason": reason})
        seq = terminal_seq(self.next_seq, self.floor)
        return JobCancelled(**self.envelope(seq), reason=reason[:_REASON_MAX])

    async def _outcome(self, work: Callable[[], Awaitable[T]]) -> T | JobFailed:
        """What `work` returns, or the JobFailed its failure becomes."""
        try:
            return await work()
        except JobAborted as exc:
            return self._failed(exc.error_code, exc.reason)
        except Exception as exc:  # anything unexpected still closes the job, with its cause
            log.exception("job failed unexpectedly", extra=self.log_extra)
            reason = f"internal error: {type(exc).__name__}: {exc}; request the job again"
            return self._failed("internal", reason)

    def _failed(self, error_code: str, reason: str) -> JobFailed:
        seq = terminal_seq(self.next_seq, self.floor)
        return JobFailed(**self.envelope(seq), error_code=error_code, reason=reason[:_REASON_MAX])
