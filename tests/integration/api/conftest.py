"""Fixtures of the API's integration tests: the real schema, settings, and the app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from api_live import serve, wait_until_ready

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_progress.migrate import apply_migrations


@pytest.fixture
async def database(test_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection[Any]]:
    """The test's database with the progress service's schema (its real migration)."""
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    await apply_migrations(conn)
    yield conn
    await conn.close()


@pytest.fixture
def settings(settings_for: Callable[..., ApiSettings], test_env: dict[str, str]) -> ApiSettings:
    return settings_for(ApiSettings, api_allowed_buckets=[test_env["S3_BUCKET"]])


@pytest.fixture
async def api(
    settings: ApiSettings, database: asyncpg.Connection[Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve(create_app(settings)):
        await wait_until_ready(client)
        yield client
