"""`EventStore`: read-only access to the progress service's projection in Postgres.

The fallback for whatever the in-memory cache does not hold: history older than the window,
a seq the feed has not delivered yet, and who owns a job.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dicompress_notifier.model import JobEvent
from dicompress_schemas import DecodeError, decode_event
from dicompress_schemas.jobs import TERMINAL_EVENT_TYPES, TERMINAL_STATUSES, figures_of, outcome

log = logging.getLogger(__name__)

# The terminal row comes back even at or below `after`: it tells the caller the job is over.
_EVENTS = """
SELECT seq, payload FROM job_events
WHERE job_id = $1 AND payload->>'tenant' = $2
  AND (seq > $3 OR type = ANY($5::text[]))
  AND ($4::int IS NULL OR seq < $4)
ORDER BY seq
"""


# What a `snapshot` frame shows of a `jobs` row (no source URIs: the client sent them);
# the columns `_JOB` reads.
_SNAPSHOT_COLUMNS = (
    "status",
    "codec",
    "compression_rate",
    "slices_total",
    "slices_done",
    "slices_failed",
    "bytes_in",
    "bytes_out",
    "ratio",
    "eta_at",
    "artifact_uri",
    "artifact_bytes",
    "error_code",
    "reason",
    "requested_at",
    "started_at",
    "finished_at",
    "last_event_at",
)
_JOB = """
SELECT tenant, last_seq, status, codec, compression_rate, slices_total, slices_done,
       slices_failed, bytes_in, bytes_out, ratio, eta_at, artifact_uri, artifact_bytes,
       error_code, reason, requested_at, started_at, finished_at, last_event_at,
       slice_interval_ms, codestream_estimate
FROM jobs WHERE job_id = $1
"""


@dataclass(frozen=True)
class JobState:
    """A job's row in the projection: whose it is, the seq it reflects, and what it shows."""

    tenant: str
    seq: int  # the highest seq the projection has applied; -1 before any
    fields: dict[str, Any]  # JSON-ready, for the snapshot frame

    @property
    def status(self) -> str:
        return str(self.fields["status"])

    @property
    def final(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _json_ready(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


class EventStore:
    """Queries `jobs` and `job_events` (owned and migrated by dicompress_progress)."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def owner(self, job_id: uuid.UUID) -> str | None:
        """The tenant of a job the projection knows, or None if it knows none yet."""
        tenant = await self._pool.fetchval("SELECT tenant FROM jobs WHERE job_id = $1", job_id)
        return str(tenant) if tenant is not None else None

    async def job(self, job_id: uuid.UUID) -> JobState | None:
        """The job's row, or None if the projection has not seen the job yet."""
        row = await self._pool.fetchrow(_JOB, job_id)
        if row is None:
            return None
        fields = {name: _json_ready(row[name]) for name in _SNAPSHOT_COLUMNS}
        figures = figures_of(dict(row.items()))
        fields["ratio"] = figures.ratio  # so far while it runs, as GET /jobs/{id} says
        fields["outcome"] = outcome(
            row["status"], row["slices_total"], row["slices_done"] or 0, row["slices_failed"] or 0
        )
        fields["figures"] = figures.as_json()
        last_seq = row["last_seq"]
        return JobState(str(row["tenant"]), -1 if last_seq is None else int(last_seq), fields)

    async def events(
        self, job_id: uuid.UUID, tenant: str, after_seq: int, before_seq: int | None = None
    ) -> list[JobEvent]:
        """`tenant`'s events of the job with after_seq < seq < before_seq, in seq order, plus
        its terminal event wherever it is."""
        rows = await self._pool.fetch(
            _EVENTS, job_id, tenant, after_seq, before_seq, sorted(TERMINAL_EVENT_TYPES)
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
