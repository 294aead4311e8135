"""Running the real worker as its own process in integration tests, and waiting on it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import polling


async def wait_for(
    check: Callable[[], Awaitable[Any]], what: str, within_s: float = 30.0, logs: Path | None = None
) -> Any:
    """Poll `check` until it returns something truthy; fail with the worker's log otherwise."""
    return await polling.eventually(check, what, within_s, context=lambda: tail(logs))


def tail(log_path: Path | None) -> str:
    """The end of the worker's log, for failure messages."""
    if log_path is None or not log_path.exists():
        return ""
    return "--- worker log ---\n" + log_path.read_text(errors="replace")[-4000:]


@contextmanager
def worker(
    test_env: dict[str, str], tmp_path: Path, group: str, port: int
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The worker as its own process, stopped with SIGTERM as in production."""
    log_path = tmp_path / f"{group}-{uuid.uuid4().hex[:6]}.log"  # one per start
    env = {
        **os.environ,
        **test_env,
        "PROGRESS_GROUP_ID": group,
        "PROGRESS_WEB_PORT": str(port),
        "PROGRESS_DATA_DIR": str(tmp_path / group),
        "PROGRESS_RETRY_CAP_S": "2",
        # A killed worker's partitions come back after this, not after the default 30 s.
        "PROGRESS_SESSION_TIMEOUT_S": "8",
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dicompress_progress", "worker", "-l", "info"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    async def check() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}\n{tail(log_path)}")
        try:
            status = await asyncio.to_thread(_get_status, f"http://127.0.0.1:{port}/healthz")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return status == 200

    await wait_for(check, "GET /healthz to answer 200", logs=log_path)


def _get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- a fixed local URL
        status: int = response.status
        return status
