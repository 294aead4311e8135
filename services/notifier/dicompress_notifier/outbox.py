"""`Outbox`: one connection's outgoing frames, written by a single task."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from websockets.asyncio.server import ServerConnection, broadcast
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


# What a client socket may hold unsent before frames wait in the outbox instead (websockets'
# own default write limit, past which its `send` waits for the socket to drain).
WRITE_HIGH_WATER = 32 * 1024


def direct_writer(ws: ServerConnection) -> Callable[[str], bool]:
    """`Outbox`'s `write_now` for a websockets connection: write a frame synchronously (with
    websockets' `broadcast` to that one connection) while the socket's buffer is below
    WRITE_HIGH_WATER; False (the frame is queued instead) when it is not, or on an error."""

    def write_now(frame: str) -> bool:
        transport = ws.transport
        if transport.is_closing() or transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            return False
        try:
            broadcast([ws], frame, raise_exceptions=True)
        except ExceptionGroup:
            return False  # the queue and `send` will meet the error, and end the connection
        return True

    return write_now


class Outbox:
    """Frames of every subscription of a connection, and the replies to its requests, written
    in order by `run`. Putting never waits: a client that lags gets its per-slice updates
    coalesced (see `Backlog`), and one that still holds more than `limit` frames is closed with
    1013, so a slow client costs a bounded amount of memory and never holds up anyone else.

    With `write_now` (see `direct_writer`), a frame put while nothing is queued and `run` is
    not in the middle of a send is written at once, in order, without waking `run`: what a
    client keeping up costs per frame. A client that does not keep up fills its socket
    buffer, after which frames queue (and coalesce) as before."""

    def __init__(
        self,
        ws: Socket,
        coalesce_at: int = 100,
        limit: int = 1000,
        metrics: NotifierMetrics | None = None,
        write_now: Callable[[str], bool] | None = None,
    ) -> None:
        self._ws = ws
        self._metrics = metrics
        self._write_now = write_now
        self._idle = False  # `run` waits for frames: no send is in progress
        self._backlog = Backlog(coalesce_at, limit)
        self._ready = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None

    def put(self, frame: str, job_id: uuid.UUID | None = None) -> None:
        """Queue a frame that goes out as it is."""
        if self._closing is None and not self._written(frame):
            self._backlog.put(frame, job_id)
            self._queued()

    def put_event(self, event: JobEvent, slices_done: int | None = None) -> None:
        """Queue a job event; a SliceEncoded one may be coalesced while the client lags
        (`slices_done`: the job's encoded slices once this one counts, if known)."""
        if self._closing is not None:
            return
        frame = event_frame(event)
        if self._written(frame):
            return
        if event.is_slice:
            before = self._backlog.coalesced
            self._backlog.put_slice(frame, slice_progress(event, slices_done))
            if self._metrics is not None and self._backlog.coalesced > before:
                self._metrics.coalesced.inc(self._backlog.coalesced - before)
        else:
            self._backlog.put(frame, event.job_id)
        self._queued()

    def __len__(self) -> int:
        return len(self._backlog)

    @property
    def idle(self) -> bool:
        """`run` waits for frames: nothing is queued and no send is in progress."""
        return self._idle

    async def run(self) -> None:
        """Write queued frames until the connection closes."""
        try:
            while True:
                while not self._backlog:
                    self._ready.clear()
                    self._idle = True
                    try:
                        await self._ready.wait()
                    finally:
                        self._idle = False
                await self._ws.send(self._backlog.pop())
                if self._metrics is not None:
                    self._metrics.frames_sent.inc()
        except ConnectionClosed:
            pass  # the handler notices too and cleans up

    def _written(self, frame: str) -> bool:
        """Write `frame` at once if that keeps the order: nothing queued, no send running."""
        if self._write_now is None or not self._idle or self._backlog:
            return False
        if not self._write_now(frame):
            return False
        if self._metrics is not None:
            self._metrics.frames_sent.inc()
        return True

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
