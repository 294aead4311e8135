"""Run a coroutine to completion from synchronous code, whatever event loop the caller has."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a fresh loop in a worker thread and return its result.

    The stack is synchronous (subprocesses, threads), but the Kafka admin and asyncpg are async.
    A private thread keeps `asyncio.run` from replacing the caller's loop, e.g. pytest-asyncio's
    session loop when a sync fixture calls us.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack-aio") as pool:
        return pool.submit(asyncio.run, coro).result()
