"""Reading the jobs projection from Postgres (asyncpg)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.jobs.answers import COLUMNS
from dicompress_api.jobs.listing import EPOCH, JobFilter
from dicompress_api.jobs.slices import SLICE_COLUMNS
from dicompress_api.web.errors import StoreUnavailable

log = logging.getLogger(__name__)

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE job_id = $1 AND tenant = $2"  # noqa: S608 - fixed column names, values are bound
# Keyset pagination, newest first; NULL filters match everything. See listing.py.
_SORT = "COALESCE(requested_at, $4::timestamptz)"
_LIST = f"""
SELECT {", ".join(COLUMNS)} FROM jobs
WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR codec = $3)
  AND ($5::uuid IS NULL OR ({_SORT}, job_id) < ($6::timestamptz, $5::uuid))
ORDER BY {_SORT} DESC, job_id DESC LIMIT $7
"""  # noqa: S608 - fixed text, values are bound
_SLICES = f"""
SELECT {", ".join("s." + c for c in SLICE_COLUMNS)} FROM job_slices s JOIN jobs j USING (job_id)
WHERE s.job_id = $1 AND j.tenant = $2 ORDER BY s.slice_index
"""  # noqa: S608 - fixed text, values are bound


class PostgresJobs:
    """The jobs projection's reader, on the process's shared `Database`."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def start(self) -> None:
        await self._database.start()

    async def close(self) -> None:
        await self._database.close()

    async def get(self, job_id: uuid.UUID, tenant: str) -> Mapping[str, Any] | None:
        """The job's row when it exists and belongs to `tenant` (the filter is in the query)."""
        try:
            row = await self._require_pool().fetchrow(_SELECT, job_id, tenant)
        except FAILURES as exc:
            log.warning("jobs projection unavailable", extra={"job_id": str(job_id)})
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return dict(row) if row is not None else None

    async def list_jobs(self, tenant: str, where: JobFilter) -> list[Mapping[str, Any]]:
        """The tenant's jobs matching `where`, newest first (the tenant filter is in the query)."""
        after = where.after
        args = (
            tenant,
            where.status,
            where.codec,
            EPOCH,
            after.job_id if after else None,
            after.requested_at if after else None,
            where.limit,
        )
        return await self._fetch(_LIST, *args, what="job list")

    async def slices(self, job_id: uuid.UUID, tenant: str) -> list[Mapping[str, Any]]:
        """The job's slice rows by index, if the job is the tenant's."""
        return await self._fetch(_SLICES, job_id, tenant, what="slice list")

    async def _fetch(self, query: str, *args: object, what: str) -> list[Mapping[str, Any]]:
        try:
            rows = await self._require_pool().fetch(query, *args)
        except FAILURES as exc:
            log.warning("jobs projection unavailable", extra={"reading": what})
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return [dict(row) for row in rows]

    async def problem(self) -> str | None:
        try:
            await self._require_pool().fetchval("SELECT 1")
        except (*FAILURES, StoreUnavailable) as exc:
            return f"postgres: {type(exc).__name__}: {exc}"
        return None

    def _require_pool(self) -> asyncpg.Pool:
        return self._database.pool()
