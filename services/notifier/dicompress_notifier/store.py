"""`EventStore`: read-only access to the progress service's projection in Postgres.

The fallback for whatever the in-memory cache does not hold: history older than the window,
a seq the feed has not delivered yet, and who owns a job.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg

from dicompress_notifier.model import TERMINAL_TYPES, JobEvent
from dicompress_schemas import DecodeError, decode_event

log = logging.getLogger(__name__)

# The terminal row comes back even at or below `after`: it tells the caller the job is over.
_EVENTS = """
SELECT seq, payload FROM job_events
WHERE job_id = $1 AND payload->>'tenant' = $2
  AND (seq > $3 OR type = ANY($5::text[]))
  AND ($4::int IS NULL OR seq < $4)
ORDER BY seq
"""


class EventStore:
    """Queries `jobs` and `job_events` (owned and migrated by dicompress_progress)."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def owner(self, job_id: uuid.UUID) -> str | None:
        """The tenant of a job the projection knows, or None if it knows none yet."""
        tenant = await self._pool.fetchval("SELECT tenant FROM jobs WHERE job_id = $1", job_id)
        return str(tenant) if tenant is not None else None

    async def events(
        self, job_id: uuid.UUID, tenant: str, after_seq: int, before_seq: int | None = None
    ) -> list[JobEvent]:
        """`tenant`'s events of the job with after_seq < seq < before_seq, in seq order, plus
        its terminal event wherever it is."""
        rows = await self._pool.fetch(
            _EVENTS, job_id, tenant, after_seq, before_seq, sorted(TERMINAL_TYPES)
        )
        events = []
        for row in rows:
            try:
                events.append(JobEvent.of(decode_event(row["payload"])))
            except DecodeError as exc:
                # the projection stored it, so it decoded once: an upcaster is missing here
                log.error(
                    "undecodable event in job_events",
                    extra={"job_id": str(job_id), "seq": row["seq"], "reason": exc.reason},
                )
        return events
