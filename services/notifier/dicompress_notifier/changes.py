"""`ChangeListener`: ONE Postgres LISTEN per notifier instance on the projection's change feed.

The progress worker NOTIFYs `job_progress` (a JSON snapshot per job per committed batch) inside
its transactions. A notification the live Kafka stream has already covered wakes nobody; any
other wakes the subscriptions of that job, which then read Postgres (one read per job, shared:
see `CatchUp`) if the live stream still has not brought them as far; idle ones cost nothing.
The connection is dedicated to listening. When it drops, notifications sent meanwhile are lost
for good, so after re-LISTENing every subscription is woken to re-read what it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import asyncpg
import orjson

from dicompress_notifier.hub import Hub
from dicompress_notifier.model import Change

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0
_PROBE_EVERY_S = 15.0


def parse_change(text: str) -> Change:
    """A notification's payload; ValueError if it is not the progress worker's JSON."""
    try:
        raw = orjson.loads(text)
        job_id = uuid.UUID(raw["job_id"])
        tenant = raw.get("tenant")
        last_seq = raw.get("last_seq")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a job_progress payload: {exc}") from exc
    if tenant is not None and not isinstance(tenant, str):
        raise ValueError("'tenant' must be a string")
    if last_seq is not None and (not isinstance(last_seq, int) or isinstance(last_seq, bool)):
        raise ValueError("'last_seq' must be an integer")
    return Change(job_id, tenant, last_seq)


class ChangeListener:
    """LISTENs on `channel` until cancelled, reconnecting with a backoff; `listening` is set
    while a LISTEN is in place (the tests and the health of the fallback path use it)."""

    def __init__(self, database_url: str, channel: str, hub: Hub) -> None:
        self._url = database_url
        self._channel = channel
        self._hub = hub
        self.listening = asyncio.Event()
        self.connections = 0  # LISTENs set up so far (1 + reconnects)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._listen_once()
                backoff = 0.2
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning(
                    "change feed connection failed",
                    extra={"channel": self._channel, "error": str(exc), "retry_s": backoff},
                )
            self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _listen_once(self) -> None:
        """LISTEN on a fresh connection until it is lost."""
        lost = asyncio.Event()
        conn: asyncpg.Connection[Any] = await asyncpg.connect(self._url)
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self._channel, self._on_notification)
            self.connections += 1
            self.listening.set()
            # what was notified before this LISTEN (at start, or while away) is lost: re-read
            self._hub.wake_all()
            log.info("listening for job changes", extra={"channel": self._channel})
            while not lost.is_set():
                # a silently dead peer never ends the connection: probe it now and then
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), _PROBE_EVERY_S)
                if not lost.is_set():
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), _PROBE_EVERY_S)
            log.warning("change feed connection lost", extra={"channel": self._channel})
        finally:
            if not conn.is_closed():
                conn.terminate()

    def _on_notification(self, _conn: object, _pid: int, _channel: str, text: object) -> None:
        try:
            change = parse_change(str(text))
        except ValueError as exc:
            log.warning("ignored a malformed notification", extra={"reason": str(exc)})
            return
        self._hub.wake(change)
