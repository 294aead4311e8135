"""`Session`: one authenticated connection, its subscriptions and its outbox."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection

from dicompress_notifier.hub import Hub
from dicompress_notifier.outbox import Outbox
from dicompress_notifier.protocol import (
    ErrorCode,
    FrameError,
    Subscribe,
    Unsubscribe,
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


@dataclass(frozen=True)
class Services:
    """What every session shares: the hub, the store and the limits."""

    hub: Hub
    store: EventStore
    max_queue: int
    timing: Timing
    metrics: NotifierMetrics | None = None


class Session:
    """Reads client frames and runs one task per subscription until the connection closes."""

    def __init__(self, ws: ServerConnection, tenant: str, services: Services) -> None:
        self._ws = ws
        self._tenant = tenant
        self._services = services
        self._outbox = Outbox(ws, metrics=services.metrics)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def serve(self) -> None:
        """Handle frames until the client goes; then drop every subscription."""
        writer = asyncio.create_task(self._outbox.run())
        try:
            async for message in self._ws:
                await self._on_frame(message)
        finally:
            tasks = [*self._tasks.values(), writer]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_frame(self, message: str | bytes) -> None:
        try:
            frame = parse_frame(message)
        except FrameError as exc:
            await self._outbox.put(error_frame(exc.code, exc.message))
            return
        if isinstance(frame, Subscribe):
            await self._subscribe(frame)
        elif isinstance(frame, Unsubscribe):
            await self._unsubscribe(frame.job_id)

    async def _subscribe(self, frame: Subscribe) -> None:
        job_id = frame.job_id
        if job_id in self._tasks:
            message = "already subscribed; unsubscribe first to start again from another seq"
            await self._outbox.put(error_frame(ErrorCode.ALREADY_SUBSCRIBED, message, job_id))
            return
        if len(self._tasks) >= MAX_SUBSCRIPTIONS:
            message = f"at most {MAX_SUBSCRIPTIONS} subscriptions a connection"
            await self._outbox.put(error_frame(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message, job_id))
            return
        s = self._services
        subscription = Subscription(
            job_id,
            self._tenant,
            frame.since_seq,
            hub=s.hub,
            store=s.store,
            outbox=self._outbox,
            max_queue=s.max_queue,
            timing=s.timing,
        )
        # acknowledged before the task starts, so 'subscribed' precedes the job's events
        await self._outbox.put(subscribed_frame(job_id))
        task = asyncio.create_task(subscription.run())
        self._tasks[job_id] = task
        task.add_done_callback(lambda t: self._finished(job_id, t))
        log.debug(
            "subscribed",
            extra={"job_id": str(job_id), "tenant": self._tenant, "since_seq": frame.since_seq},
        )

    async def _unsubscribe(self, job_id: uuid.UUID) -> None:
        task = self._tasks.pop(job_id, None)
        if task is not None:
            task.cancel()
        await self._outbox.put(unsubscribed_frame(job_id))

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
