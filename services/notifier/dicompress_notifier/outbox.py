"""`Outbox`: one connection's outgoing frames, written by a single task."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from dicompress_notifier.telemetry import NotifierMetrics

log = logging.getLogger(__name__)

# Close code 1013 "try again later": the client fell behind and should resubscribe from the last
# seq it has. Closing says so out loud; dropping events (a terminal one above all) would not.
TRY_AGAIN_LATER = 1013


class Outbox:
    """Frames of every subscription of a connection, and the replies to its requests, queued
    whole and written in order. `put` waits while the queue is full: that holds back only this
    connection's own subscriptions, never the broadcast (see `Subscription.push`)."""

    def __init__(
        self, ws: ServerConnection, maxsize: int = 64, metrics: NotifierMetrics | None = None
    ) -> None:
        self._ws = ws
        self._metrics = metrics
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self._closing: asyncio.Task[None] | None = None

    async def put(self, frame: str) -> None:
        await self._queue.put(frame)

    async def run(self) -> None:
        """Write queued frames until the connection closes."""
        try:
            while True:
                await self._ws.send(await self._queue.get())
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
