"""The change feed: after each commit, subscribers hear which jobs changed and how.

Postgres LISTEN/NOTIFY, not a Kafka topic, because a notification sent inside the projection's
transaction is delivered if and only if that transaction commits, and in commit order: no
outbox, no dual write, no notification of a change that was rolled back. What it does not do is
keep notifications for a listener that was away; that is fine here, because the tables are the
durable state: a subscriber (the notifier, the API's SSE) LISTENs first, then reads the job's row
(the snapshot) and the `job_events` it has not seen, then applies the notifications, which arrive
in commit order.

A payload is a small JSON snapshot (well under Postgres's 8000-byte limit), one per job per
committed batch, carrying the job's state after the batch. The progress service writes it
(`payload`); the subscribers read it (`parse`). The channel is the setting
`CHANGE_FEED_CHANNEL`, `CHANNEL` by default.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

import orjson

from dicompress_schemas.jobs import JobView

CHANNEL: Final = "job_progress"


@dataclass(frozen=True, slots=True)
class Change:
    """The projection committed something about a job (a change-feed notification), or,
    with `last_seq` None, may have while the subscriber was not listening."""

    job_id: uuid.UUID
    tenant: str | None = None
    last_seq: int | None = None
    # the job's figures as of `last_seq` (`Figures.as_json()`), relayed to viewers as they are
    figures: dict[str, Any] | None = None


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
            "figures": view.figures.as_json(),
        }
    ).decode()


def parse(text: str) -> Change:
    """A notification's payload as a `Change`; ValueError if it is not a change-feed payload
    (only `job_id` is required, so subscribers keep working if the payload grows)."""
    try:
        raw = orjson.loads(text)
        job_id = uuid.UUID(raw["job_id"])
        tenant = raw.get("tenant")
        last_seq = raw.get("last_seq")
        figures = raw.get("figures")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a change-feed payload: {exc}") from exc
    if tenant is not None and not isinstance(tenant, str):
        raise ValueError("'tenant' must be a string")
    if last_seq is not None and (not isinstance(last_seq, int) or isinstance(last_seq, bool)):
        raise ValueError("'last_seq' must be an integer")
    if figures is not None and not isinstance(figures, dict):
        raise ValueError("'figures' must be an object")
    return Change(job_id, tenant, last_seq, figures)
