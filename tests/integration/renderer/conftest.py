"""Fixtures of the renderer's integration tests: its settings on the test's topics and bucket,
and the renderer serving in this process (its vtk in a child process, as in production)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from renderer_support import running

from dicompress_renderer.settings import RendererSettings
from dicompress_stack.net import free_port


@pytest.fixture
def renderer_settings(
    settings_for: Callable[..., Any], test_env: dict[str, str]
) -> RendererSettings:
    settings: RendererSettings = settings_for(
        RendererSettings,
        renderer_allowed_buckets=[test_env["S3_BUCKET"]],
        renderer_health_port=free_port(),
        renderer_group_id=f"renderer-{uuid.uuid4().hex[:8]}",
        renderer_worker_id="test-renderer",
    )
    return settings


@pytest.fixture
async def renderer(renderer_settings: RendererSettings) -> AsyncIterator[RendererSettings]:
    async with running(renderer_settings) as settings:
        yield settings
