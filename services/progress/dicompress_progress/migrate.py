"""Plain numbered SQL migrations (`migrations/NNNN_name.sql`), applied once each, in order.

Several workers may start at once, so `apply_migrations` holds a Postgres advisory lock while it
reads `schema_migrations` and applies what is missing; each migration runs in its own
transaction together with its `schema_migrations` row.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from dicompress_progress.errors import MigrationError

log = logging.getLogger(__name__)

# A one-bigint key ("dicomprs" in ASCII, fixed forever). Postgres keeps one-bigint and two-int
# advisory keys apart, so it cannot collide with the store's per-job (two-int) locks.
MIGRATION_LOCK_KEY = 0x6469636F6D707273

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, by version; versions must run 1, 2, 3... without gaps."""
    found: list[Migration] = []
    for entry in resources.files("dicompress_progress").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration {entry.name!r} is not named NNNN_lower_snake.sql")
        found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


async def apply_migrations(
    conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any],
) -> list[int]:
    """Bring the database up to the newest schema; return the versions applied now.

    Safe to call from many processes at once and on every start (a no-op when up to date).
    Tests and other services call it to get the `jobs` and `job_events` tables.
    """
    migrations = load_migrations()
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_TRACKING)
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        applied: list[int] = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                )
            log.info(
                "applied migration",
                extra={"version": migration.version, "migration": migration.name},
            )
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
