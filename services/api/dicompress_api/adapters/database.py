"""The API process's one asyncpg pool, shared by every reader of the projection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from dicompress_api.web.errors import StoreUnavailable

log = logging.getLogger(__name__)

# What a query may raise when Postgres is away or refuses: answered as 503, never a 500.
FAILURES = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Database:
    """A lazily connecting pool: the API starts (and says it is not ready) without Postgres."""

    def __init__(self, dsn: str, *, max_size: int = 8, timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        if self._pool is not None:
            return
        # min_size=0: create_pool connects nothing, so a database that is down does not stop us.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._max_size,
            timeout=self._timeout_s,
            command_timeout=self._timeout_s,
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the job store was not started")
        return self._pool

    async def fetch(self, query: str, *args: object, reader: str) -> list[Mapping[str, Any]]:
        """The rows of `query` as dicts; StoreUnavailable (503) saying that `reader` ("the
        study index") did not answer when Postgres is away or refuses."""
        try:
            rows = await self.pool().fetch(query, *args)
        except FAILURES as exc:
            log.warning("projection unavailable", extra={"reading": reader, "error": str(exc)})
            raise StoreUnavailable(f"{reader} did not answer: {exc}") from exc
        return [dict(row) for row in rows]
