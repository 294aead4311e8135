"""A job's recorded events (`job_events`, written by the progress service), read for SSE."""

from __future__ import annotations

import uuid
from typing import Final

import asyncpg

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.web.errors import StoreUnavailable
from dicompress_schemas.jobs import TERMINAL_EVENT_TYPES

PAGE: Final = 500  # rows per read, so a long backlog is never held in memory at once

_OWNER = "SELECT tenant FROM jobs WHERE job_id = $1"
_AFTER = """
SELECT seq, type, payload FROM job_events WHERE job_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3
"""
_TERMINAL = """
SELECT seq, type FROM job_events WHERE job_id = $1 AND type = ANY($2::text[]) ORDER BY seq LIMIT 1
"""


class JobEventLog:
    """Reads a job's recorded events on the process's shared pool."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def owner(self, job_id: uuid.UUID) -> str | None:
        try:
            async with self._database.pool().acquire() as conn:
                tenant: str | None = await conn.fetchval(_OWNER, job_id)
        except FAILURES as exc:
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return tenant

    async def terminal(self, job_id: uuid.UUID) -> tuple[int, str] | None:
        """The seq and type of the job's terminal event, if recorded (raises FAILURES)."""
        async with self._database.pool().acquire() as conn:
            row = await conn.fetchrow(_TERMINAL, job_id, sorted(TERMINAL_EVENT_TYPES))
        return None if row is None else (int(row["seq"]), str(row["type"]))

    async def from_seq(self, job_id: uuid.UUID, seq: int) -> list[asyncpg.Record]:
        """Up to PAGE events of the job from `seq` on, in sequence order (raises FAILURES)."""
        async with self._database.pool().acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(_AFTER, job_id, seq, PAGE)
        return rows
