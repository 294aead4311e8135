"""Fixtures of the compressor's integration tests: its settings on the test's topics and bucket,
a compressor serving in this process, a producer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from compressor_support import running

from dicompress_compressor.settings import CompressorSettings
from dicompress_stack.net import free_port


@pytest.fixture
def compressor_settings(
    settings_for: Callable[..., Any], test_env: dict[str, str]
) -> CompressorSettings:
    """Settings of a compressor (2 encoder processes) on this test's topics and bucket."""
    settings: CompressorSettings = settings_for(
        CompressorSettings,
        compressor_allowed_buckets=[test_env["S3_BUCKET"]],
        compressor_processes=2,
        compressor_health_port=free_port(),
        compressor_group_id=f"compressor-{uuid.uuid4().hex[:8]}",
        compressor_worker_id="test-worker",
    )
    return settings


@pytest.fixture
async def compressor(compressor_settings: CompressorSettings) -> AsyncIterator[CompressorSettings]:
    async with running(compressor_settings) as settings:
        yield settings
