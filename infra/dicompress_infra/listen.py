"""`PgListener`: one Postgres LISTEN held open until cancelled, reconnecting with a backoff.

The notifier and the API's SSE both hear the projection's change feed this way (the channel is
the setting `CHANGE_FEED_CHANNEL`), one connection per process. The connection is dedicated to
listening. Notifications sent while it is down are lost for good, so after every (re)LISTEN
`on_listening` runs: the caller wakes whoever may have missed something, and they re-read the
tables, which are the durable state. A silently dead peer (a half-open TCP connection, a
firewall that dropped it) never ends the connection by itself, so it is probed now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# What losing or not reaching Postgres raises; the listener retries after each.
FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PgListener:
    """LISTENs on `channel` until cancelled; `on_notification(payload)` for each notification,
    `on_listening()` after each (re)LISTEN. `listening` is set while a LISTEN is in place."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notification: Callable[[str], None],
        *,
        on_listening: Callable[[], None] = lambda: None,
        retry_max_s: float = 5.0,
        probe_every_s: float = 15.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self.channel = channel
        self._on_notification = on_notification
        self._on_listening = on_listening
        self._retry_max_s = retry_max_s
        self._probe_every_s = probe_every_s
        self._connect_timeout_s = connect_timeout_s
        self.listening = asyncio.Event()
        self.connections = 0  # LISTENs set up so far (1 + reconnects)

    async def run(self) -> None:
        """Listen, and listen again after each loss, until cancelled."""
        backoff = 0.2
        while True:
            try:
                await self._listen_once()
                backoff = 0.2
            except FAILURES as exc:
                log.warning(
                    "LISTEN connection failed",
                    extra={"channel": self.channel, "error": str(exc), "retry_s": backoff},
                )
            self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._retry_max_s)

    async def _listen_once(self) -> None:
        """LISTEN on a fresh connection until it is lost."""
        lost = asyncio.Event()
        conn: asyncpg.Connection[Any] = await asyncpg.connect(
            self._dsn, timeout=self._connect_timeout_s
        )
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self.channel, self._notified)
            self.connections += 1
            self.listening.set()
            # what was notified before this LISTEN (at start, or while away) is lost: re-read
            self._on_listening()
            log.info("listening", extra={"channel": self.channel})
            while not lost.is_set():
                # a silently dead peer never ends the connection: probe it now and then
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._probe_every_s)
                if not lost.is_set():
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), self._probe_every_s)
            log.warning("LISTEN connection lost", extra={"channel": self.channel})
        finally:
            self.listening.clear()
            if not conn.is_closed():
                conn.terminate()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._on_notification(str(payload))
