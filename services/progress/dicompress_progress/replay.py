"""Replay: rebuild the whole projection from the log into a fresh schema, then either swap it
in for the live one (`dicompress replay`) or compare the two row for row (`--check`).

The rebuild reads the requests, events and control topics, and the ingest requests and events
topics (the study index), from their first record (no consumer
group; the live worker is not disturbed) and records every message with the very code the
worker uses (`store.record_batch`), in batches, into tables created by the same migrations in
the fresh schema. Messages the worker dead-letters are skipped here by the same rules.

The swap takes the live tables' locks (the worker, API and notifier wait a moment), catches up
with what was appended to the log meanwhile, moves the live tables into a `replaced_<time>`
schema (kept for inspection; drop it when satisfied) and the rebuilt ones into `public`, all
in one transaction: readers see either the old projection or the complete new one.

`--check` compares at one moment, without locks: events appended to the log while it runs may
be in the live tables and not in the rebuild (or the reverse, if the worker lags), and show as
differences. Run it when the log is quiet, or again if it reports a few.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from dicompress_progress.handler import Message, decode_message
from dicompress_progress.logread import LogReader
from dicompress_progress.migrate import apply_migrations
from dicompress_progress.retry import is_poison
from dicompress_progress.settings import ProgressSettings
from dicompress_progress.store import Delivered, record_batch

log = logging.getLogger(__name__)

LIVE_SCHEMA = "public"
STUDY_INDEX = (
    "ingests",
    "ingest_events",
    "ingest_rejections",
    "study_instances",
    "ingest_studies",
    "studies",
    "series",
)
_JOB_TABLES = ("jobs", "job_events", "job_slices", "job_commands", "products", "product_images")
TABLES = (*_JOB_TABLES, *STUDY_INDEX, "schema_migrations")
COMPARED = (*_JOB_TABLES, *STUDY_INDEX)
# When a row was written, not what it says: a rebuild differs there by nature.
_VOLATILE = frozenset({"updated_at", "recorded_at", "applied_at"})


@dataclass(frozen=True)
class TableDiff:
    """How one table of the rebuilt projection compares with the live one."""

    table: str
    live_rows: int
    rebuilt_rows: int
    only_live: int  # rows (all compared columns) that the rebuild does not have
    only_rebuilt: int

    @property
    def equal(self) -> bool:
        return self.only_live == 0 and self.only_rebuilt == 0


@dataclass
class ReplayReport:
    """What a replay read, skipped, found and did."""

    schema: str
    messages: int = 0
    skipped: int = 0
    seconds: float = 0.0
    diffs: list[TableDiff] = field(default_factory=list)
    replaced_schema: str | None = None

    @property
    def equal(self) -> bool:
        return all(diff.equal for diff in self.diffs)

    def render(self) -> str:
        lines = [
            f"replayed {self.messages} messages ({self.skipped} skipped as the worker would "
            f"dead-letter them) in {self.seconds:.1f} s into schema {self.schema}"
        ]
        for d in self.diffs:
            verdict = "equal" if d.equal else "DIFFERENT"
            lines.append(
                f"  {d.table:<17} live {d.live_rows:>8}  rebuilt {d.rebuilt_rows:>8}  "
                f"only-live {d.only_live:>6}  only-rebuilt {d.only_rebuilt:>6}  {verdict}"
            )
        if self.replaced_schema:
            lines.append(
                f"swapped in; the old tables are in schema {self.replaced_schema} "
                f"(DROP SCHEMA {self.replaced_schema} CASCADE when satisfied)"
            )
        return "\n".join(lines)


async def check(settings: ProgressSettings) -> ReplayReport:
    """Rebuild into a scratch schema, compare with the live tables, drop the scratch schema."""
    schema = f"replay_check_{secrets.token_hex(4)}"
    async with _scratch(settings, schema) as (conn, reader):
        report = await rebuild(conn, reader, schema, settings)
        report.diffs = await compare(conn, LIVE_SCHEMA, schema)
        return report


@asynccontextmanager
async def _scratch(
    settings: ProgressSettings, schema: str
) -> AsyncIterator[tuple[asyncpg.Connection[Any], LogReader]]:
    """A connection and a reader of the projected topics; on the way out, `schema` (the
    rebuild's scratch schema, if still there) is dropped and both are closed."""
    conn = await asyncpg.connect(settings.database_url)
    reader = await LogReader.open(settings.kafka_bootstrap_servers, settings.projected_topics)
    try:
        yield conn, reader
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await reader.close()
        await conn.close()


async def rebuild_and_swap(settings: ProgressSettings) -> ReplayReport:
    """Rebuild into a fresh schema and swap it in for the live tables (see the module doc)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    schema, replaced = f"replay_{stamp}", f"replaced_{stamp}"
    async with _scratch(settings, schema) as (conn, reader):
        report = await rebuild(conn, reader, schema, settings)
        async with conn.transaction():
            live = await _tables_in(conn, LIVE_SCHEMA)
            if live:
                names = ", ".join(f"{LIVE_SCHEMA}.{t}" for t in live)
                await conn.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
            # Whatever the live worker committed came from the log, which we now read to its end.
            started = time.monotonic()
            caught_up = await _read_all(conn, reader, settings, dict(reader.ends))
            report.messages += caught_up[0]
            report.skipped += caught_up[1]
            report.seconds += time.monotonic() - started
            await conn.execute(f"CREATE SCHEMA {replaced}")
            for table in live:
                await conn.execute(f"ALTER TABLE {LIVE_SCHEMA}.{table} SET SCHEMA {replaced}")
            for table in TABLES:
                await conn.execute(f"ALTER TABLE {schema}.{table} SET SCHEMA {LIVE_SCHEMA}")
            await conn.execute(f"DROP SCHEMA {schema}")
        report.replaced_schema = replaced
        report.diffs = await compare(conn, replaced, LIVE_SCHEMA)
        return report


async def rebuild(
    conn: asyncpg.Connection[Any], reader: LogReader, schema: str, settings: ProgressSettings
) -> ReplayReport:
    """Create `schema`, migrate it, and project the whole log (as it is now) into it.

    Leaves `conn`'s search_path on `schema`."""
    started = time.monotonic()
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.execute(f"SET search_path TO {schema}")
    await apply_migrations(conn)
    messages, skipped = await _read_all(conn, reader, settings, None)
    report = ReplayReport(schema, messages, skipped, time.monotonic() - started)
    log.info("rebuilt the projection", extra={"schema": schema, "messages": messages})
    return report


async def compare(conn: asyncpg.Connection[Any], live: str, rebuilt: str) -> list[TableDiff]:
    """Row-for-row comparison of every projection table (all columns but write times)."""
    diffs = []
    for table in COMPARED:
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            rebuilt,
            table,
        )
        cols = ", ".join(f'"{c["column_name"]}"' for c in columns if c[0] not in _VOLATILE)
        a, b = f"{live}.{table}", f"{rebuilt}.{table}"
        # The schema, table and column names come from us and the catalog, never from input.
        query = (
            f"SELECT (SELECT count(*) FROM {a}), (SELECT count(*) FROM {b}), "  # noqa: S608
            f"(SELECT count(*) FROM (SELECT {cols} FROM {a} EXCEPT ALL SELECT {cols} FROM {b}) x), "
            f"(SELECT count(*) FROM (SELECT {cols} FROM {b} EXCEPT ALL SELECT {cols} FROM {a}) y)"
        )
        row = await conn.fetchrow(query)
        assert row is not None  # a SELECT without FROM returns one row
        diffs.append(TableDiff(table, *(int(row[k]) for k in range(4))))
    return diffs


async def _read_all(
    conn: asyncpg.Connection[Any],
    reader: LogReader,
    settings: ProgressSettings,
    start: dict[Any, int] | None,
) -> tuple[int, int]:
    messages = skipped = 0
    commands = [settings.topics.control]
    ingests = [settings.topics.ingest_requests, settings.topics.ingest_events]
    async for batch in reader.read_from(start, settings.progress_batch_max):
        messages += len(batch)
        skipped += await _record(conn, batch, commands, ingests)
    return messages, skipped


async def _record(
    conn: asyncpg.Connection[Any],
    batch: Sequence[Message],
    command_topics: Collection[str],
    ingest_topics: Collection[str],
) -> int:
    """Record `batch` as the worker would; returns how many messages it skipped."""
    delivered = []
    for message in batch:
        item = decode_message(message, command_topics, ingest_topics)
        if not isinstance(item, str):
            delivered.append(Delivered(item, message.origin))
    skipped = len(batch) - len(delivered)
    try:
        async with conn.transaction():
            await record_batch(conn, delivered, None)
        return skipped
    except Exception as exc:
        if not is_poison(exc):
            raise
    # Some event can never be applied (the worker dead-letters it): find it, skip it.
    for one in delivered:
        try:
            async with conn.transaction():
                await record_batch(conn, [one], None)
        except Exception as exc:
            if not is_poison(exc):
                raise
            skipped += 1
    return skipped


async def _tables_in(conn: asyncpg.Connection[Any], schema: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename = ANY($2)",
        schema,
        list(TABLES),
    )
    found = {r["tablename"] for r in rows}
    return [t for t in TABLES if t in found]


def replay_main(settings: ProgressSettings, *, check_only: bool) -> int:
    """What `dicompress replay [--check]` runs: prints the report; 0 if equal (or swapped)."""
    run = check(settings) if check_only else rebuild_and_swap(settings)
    report = asyncio.run(run)
    print(report.render())
    return 0 if report.equal or not check_only else 1
