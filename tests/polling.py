"""Waiting on a condition in integration tests: poll with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


async def eventually(
    check: Callable[[], Any],
    what: str,
    within_s: float = 60.0,
    context: Callable[[], str] | None = None,
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, and return that; fail
    after `within_s` naming `what`, followed by what `context()` says then (e.g. a log tail)."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            detail = context() if context is not None else ""
            pytest.fail(f"timed out after {within_s:g} s waiting for {what}\n{detail}".rstrip())
        await asyncio.sleep(0.1)
