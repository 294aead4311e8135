"""Reading the jobs projection from Postgres (asyncpg)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from dicompress_api.errors import StoreUnavailable
from dicompress_api.views import COLUMNS

log = logging.getLogger(__name__)

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE job_id = $1 AND tenant = $2"  # noqa: S608 - fixed column names, values are bound
_FAILURES = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PostgresJobs:
    """A lazily connecting pool: the API starts (and says it is not ready) without Postgres."""

    def __init__(self, dsn: str, *, max_size: int = 8, timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        # min_size=0: create_pool connects nothing, so a database that is down does not stop us.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._max_size,
            timeout=self._timeout_s,
            command_timeout=self._timeout_s,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def get(self, job_id: uuid.UUID, tenant: str) -> Mapping[str, Any] | None:
        """The job's row when it exists and belongs to `tenant` (the filter is in the query)."""
        try:
            row = await self._require_pool().fetchrow(_SELECT, job_id, tenant)
        except _FAILURES as exc:
            log.warning("jobs projection unavailable", extra={"job_id": str(job_id)})
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return dict(row) if row is not None else None

    async def problem(self) -> str | None:
        try:
            await self._require_pool().fetchval("SELECT 1")
        except (*_FAILURES, StoreUnavailable) as exc:
            return f"postgres: {type(exc).__name__}: {exc}"
        return None

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the job store was not started")
        return self._pool
