"""The projection of a test's whole log, made by the progress worker's own code (`replay`'s
`rebuild`: every message of the test's topics recorded as the worker records it) into a fresh
schema of the test's database; for tests of other services that must show what Postgres,
and so the API, would say once their events are applied."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import asyncpg

from dicompress_progress.logread import LogReader
from dicompress_progress.replay import rebuild
from dicompress_progress.settings import ProgressSettings


async def projected_row(env: Mapping[str, str], query: str, *args: Any) -> asyncpg.Record | None:
    """`query`'s first row on the projection of everything on the test's topics now."""
    settings = ProgressSettings(**{key.lower(): value for key, value in env.items()})
    conn = await asyncpg.connect(settings.database_url)
    reader = await LogReader.open(settings.kafka_bootstrap_servers, settings.projected_topics)
    try:
        await rebuild(conn, reader, f"projected_{secrets.token_hex(4)}", settings)
        return await conn.fetchrow(query, *args)  # `rebuild` left the search path on it
    finally:
        await reader.close()
        await conn.close()
