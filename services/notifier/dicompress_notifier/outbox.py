"""`Outbox`: one connection's outgoing frames, written by a single task."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Protocol

from websockets.exceptions import ConnectionClosed

from dicompress_notifier.backlog import Backlog, slice_progress
from dicompress_notifier.model import JobEvent
from dicompress_notifier.protocol import event_frame

if TYPE_CHECKING:
    from dicompress_notifier.telemetry import NotifierMetrics

log = logging.getLogger(__name__)

# Close code 1013 "try again later": the client fell behind and should resubscribe from the last
# seq it has. Closing says so out loud; dropping events (a terminal one above all) would not.
TRY_AGAIN_LATER = 1013


class Socket(Protocol):
    """The part of a websockets connection the outbox uses."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Outbox:
    """Frames of every subscription of a connection, and the replies to its requests, written
    in order by `run`. Putting never waits: a client that lags gets its per-slice updates
    coalesced (see `Backlog`), and one that still holds more than `limit` frames is closed with
    1013, so a slow client costs a bounded amount of memory and never holds up anyone else."""

    def __init__(
        self,
        ws: Socket,
        coalesce_at: int = 100,
        limit: int = 1000,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self._ws = ws
        self._metrics = metrics
        self._backlog = Backlog(coalesce_at, limit)
        self._ready = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None

    def put(self, frame: str, job_id: uuid.UUID | None = None) -> None:
        """Queue a frame that goes out as it is."""
        if self._closing is None:
            self._backlog.put(frame, job_id)
            self._queued()

    def put_event(self, event: JobEvent, slices_done: int | None = None) -> None:
        """Queue a job event; a SliceEncoded one may be coalesced while the client lags
        (`slices_done`: the job's encoded slices once this one counts, if known)."""
        if self._closing is not None:
            return
        if event.is_slice:
            before = self._backlog.coalesced
            self._backlog.put_slice(event_frame(event), slice_progress(event, slices_done))
            if self._metrics is not None and self._backlog.coalesced > before:
                self._metrics.coalesced.inc(self._backlog.coalesced - before)
        else:
            self._backlog.put(event_frame(event), event.job_id)
        self._queued()

    def __len__(self) -> int:
        return len(self._backlog)

    async def run(self) -> None:
        """Write queued frames until the connection closes."""
        try:
            while True:
                while not self._backlog:
                    self._ready.clear()
                    await self._ready.wait()
                await self._ws.send(self._backlog.pop())
                if self._metrics is not None:
                    self._metrics.frames_sent.inc()
        except ConnectionClosed:
            pass  # the handler notices too and cleans up

    def abort(self, code: int, reason: str) -> None:
        """Close the connection (once) without waiting; the handler's cleanup follows."""
        if self._closing is None:
            log.warning("closing connection", extra={"code": code, "reason": reason})
            if code == TRY_AGAIN_LATER and self._metrics is not None:
                self._metrics.slow_disconnects.inc()
            self._closing = asyncio.create_task(self._ws.close(code, reason))

    def _queued(self) -> None:
        self._ready.set()
        if self._backlog.overflowing:
            self.abort(
                TRY_AGAIN_LATER,
                "too far behind: reconnect and subscribe with the last seq you have",
            )
