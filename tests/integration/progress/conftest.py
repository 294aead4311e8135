"""Fixtures of the progress store's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dicompress_progress.migrate import apply_migrations


@pytest.fixture
async def pool(test_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's fresh database, with every migration applied."""
    async with asyncpg.create_pool(test_env["DATABASE_URL"], min_size=1, max_size=4) as pool:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        yield pool
