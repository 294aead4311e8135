"""The change feed: after each commit, subscribers hear which jobs changed and how.

Postgres LISTEN/NOTIFY, not a Kafka topic, because a notification sent inside the projection's
transaction is delivered if and only if that transaction commits, and in commit order: no
outbox, no dual write, no notification of a change that was rolled back. What it does not do is
keep notifications for a listener that was away; that is fine here, because the tables are the
durable state: a subscriber (the notifier) LISTENs first, then reads the job's row (the
snapshot) and the `job_events` it has not seen, then applies the notifications, which arrive
in commit order.

A payload is a small JSON snapshot (well under Postgres's 8000-byte limit), one per job per
committed batch, carrying the job's state after the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import asyncpg
import orjson

from dicompress_progress.projection import JobView

CHANNEL: Final = "job_progress"


def payload(view: JobView) -> str:
    """The JSON text notified for `view` (the job's state as committed)."""
    return orjson.dumps(
        {
            "job_id": str(view.job_id),
            "tenant": view.tenant,
            "status": view.status.value,
            "last_seq": view.last_seq,
            "slices_total": view.slices_total,
            "slices_done": view.slices_done,
            "slices_failed": view.slices_failed,
            "bytes_in": view.bytes_in,
            "bytes_out": view.bytes_out,
            "eta_at": view.eta_at.isoformat() if view.eta_at else None,
            "last_event_at": view.last_event_at.isoformat() if view.last_event_at else None,
        }
    ).decode()


def decode(text: str) -> dict[str, Any]:
    """A notification's payload as a dict (for subscribers)."""
    value: dict[str, Any] = orjson.loads(text)
    return value


async def subscribe(
    conn: asyncpg.Connection[Any],
    on_change: Callable[[dict[str, Any]], None],
    channel: str = CHANNEL,
) -> Callable[[], Any]:
    """Call `on_change(snapshot)` for each committed change on `conn`; returns the coroutine
    function that stops listening. The connection must stay dedicated to listening."""

    def listener(_conn: object, _pid: int, _channel: str, text: object) -> None:
        on_change(decode(str(text)))

    await conn.add_listener(channel, listener)

    async def stop() -> None:
        await conn.remove_listener(channel, listener)

    return stop
