"""`Session`: one authenticated connection, its subscriptions, its requests and its outbox."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import asyncpg
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from dicompress_notifier.catchup import CatchUp
from dicompress_notifier.commands import Canceller, CommandUnavailable
from dicompress_notifier.hub import Hub
from dicompress_notifier.outbox import Outbox, direct_writer
from dicompress_notifier.protocol import (
    Cancel,
    ErrorCode,
    FrameError,
    Subscribe,
    Unsubscribe,
    cancel_requested_frame,
    error_frame,
    parse_frame,
    subscribed_frame,
    unsubscribed_frame,
)
from dicompress_notifier.store import EventStore
from dicompress_notifier.subscription import Subscription, Timing
from dicompress_notifier.telemetry import NotifierMetrics

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 100  # per connection; a viewer watches a handful of jobs
NORMAL_CLOSURE = 1000


@dataclass(frozen=True)
class Services:
    """What every session shares: the hub, the store, the command sender and the limits."""

    hub: Hub
    store: EventStore
    catch_up: CatchUp
    max_queue: int
    timing: Timing
    metrics: NotifierMetrics | None = None
    canceller: Canceller | None = None
    coalesce_at: int = 100
    idle_timeout_s: float = 60.0
    end_after_projection: bool = True  # see Subscription


class Session:
    """Reads client frames and runs one task per subscription until the connection closes."""

    def __init__(self, ws: ServerConnection, tenant: str, services: Services) -> None:
        self._ws = ws
        self._tenant = tenant
        self._services = services
        self._outbox = Outbox(
            ws,
            services.coalesce_at,
            services.max_queue,
            metrics=services.metrics,
            write_now=direct_writer(ws),
        )
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._requests: set[asyncio.Task[None]] = set()  # cancels waiting for the broker

    async def serve(self) -> None:
        """Handle frames until the client goes or stays idle; then drop every subscription."""
        writer = asyncio.create_task(self._outbox.run())
        try:
            while (message := await self._next_frame()) is not None:
                await self._on_frame(message)
        except ConnectionClosed:
            pass
        finally:
            tasks = [*self._tasks.values(), *self._requests, writer]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _next_frame(self) -> str | bytes | None:
        """The next client frame; None once the connection has been idle too long (no
        subscription and no frame for `idle_timeout_s`), after closing it with 1000."""
        idle_s = self._services.idle_timeout_s
        while True:
            try:
                # recv is cancel-safe: a timeout loses no frame
                async with asyncio.timeout(idle_s):
                    return await self._ws.recv()
            except TimeoutError:
                if not self._tasks and not self._requests:
                    log.info("closing an idle connection", extra={"tenant": self._tenant})
                    reason = f"idle: no subscription and no frame for {idle_s:g} s"
                    await self._ws.close(NORMAL_CLOSURE, reason)
                    return None

    async def _on_frame(self, message: str | bytes) -> None:
        try:
            frame = parse_frame(message)
        except FrameError as exc:
            self._outbox.put(error_frame(exc.code, exc.message))
            return
        if isinstance(frame, Subscribe):
            self._subscribe(frame)
        elif isinstance(frame, Unsubscribe):
            self._unsubscribe(frame.job_id)
        elif isinstance(frame, Cancel):
            # answered when the broker acks; frames keep being read meanwhile
            task = asyncio.create_task(self._cancel(frame))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

    def _subscribe(self, frame: Subscribe) -> None:
        job_id = frame.job_id
        if job_id in self._tasks:
            message = "already subscribed; unsubscribe first to start again from another seq"
            self._outbox.put(error_frame(ErrorCode.ALREADY_SUBSCRIBED, message, job_id))
            return
        if len(self._tasks) >= MAX_SUBSCRIPTIONS:
            message = f"at most {MAX_SUBSCRIPTIONS} subscriptions a connection"
            self._outbox.put(error_frame(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message, job_id))
            return
        s = self._services
        subscription = Subscription(
            job_id,
            self._tenant,
            frame.since_seq,
            hub=s.hub,
            store=s.store,
            catch_up=s.catch_up,
            outbox=self._outbox,
            max_queue=s.max_queue,
            timing=s.timing,
            end_after_projection=s.end_after_projection,
        )
        # acknowledged before the task starts, so 'subscribed' precedes the job's frames
        self._outbox.put(subscribed_frame(job_id), job_id)
        task = asyncio.create_task(subscription.run())
        self._tasks[job_id] = task
        task.add_done_callback(lambda t: self._finished(job_id, t))
        log.debug(
            "subscribed",
            extra={"job_id": str(job_id), "tenant": self._tenant, "since_seq": frame.since_seq},
        )

    def _unsubscribe(self, job_id: uuid.UUID) -> None:
        task = self._tasks.pop(job_id, None)
        if task is not None:
            task.cancel()
        self._outbox.put(unsubscribed_frame(job_id), job_id)

    async def _cancel(self, frame: Cancel) -> None:
        """Publish CancelRequested if the tenant owns the job and it is not over yet."""
        job_id = frame.job_id
        try:
            state = await self._services.store.job(job_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot read the projection", extra={"error": str(exc)})
            message = "the job store is unavailable; try again"
            self._outbox.put(error_frame(ErrorCode.UNAVAILABLE, message, job_id), job_id)
            return
        if state is None or state.tenant != self._tenant:
            # the same answer whether the job is someone else's or nobody's
            message = f"no job {job_id} (it may not be projected yet)"
            self._outbox.put(error_frame(ErrorCode.NOT_FOUND, message, job_id), job_id)
            return
        if state.final:
            message = f"job {job_id} is already {state.status}; only a queued or running job"
            self._outbox.put(error_frame(ErrorCode.NOT_CANCELLABLE, message, job_id), job_id)
            return
        canceller = self._services.canceller
        if canceller is None:
            message = "this notifier does not take commands; use POST /jobs/{id}/cancel"
            self._outbox.put(error_frame(ErrorCode.UNAVAILABLE, message, job_id), job_id)
            return
        try:
            command = await canceller.cancel(job_id, self._tenant, frame.reason)
        except CommandUnavailable as exc:
            self._outbox.put(error_frame(ErrorCode.UNAVAILABLE, str(exc), job_id), job_id)
            return
        if self._services.metrics is not None:
            self._services.metrics.cancels.inc()
        self._outbox.put(cancel_requested_frame(job_id, command.command_id), job_id)

    def _finished(self, job_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        """A subscription ended by itself (job over or foreign): the job may be subscribed again."""
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(
                "subscription failed",
                exc_info=exc,
                extra={"job_id": str(job_id), "tenant": self._tenant},
            )
            self._outbox.abort(1011, "internal error; reconnect and resubscribe")
