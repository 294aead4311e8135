"""`python -m dicompress_api` as deployed: env settings, JSON logs, serving, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from dicompress_infra.s3 import make_s3_client
from dicompress_stack.net import free_port

pytestmark = pytest.mark.integration


async def wait_for_ready(base_url: str, process: Any, timeout_s: float = 30) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client, asyncio.timeout(timeout_s):
        while True:
            assert process.returncode is None, "the API exited during start-up"
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)


async def test_module_serves_and_stops_cleanly_on_sigterm(
    test_env: dict[str, str], settings_for: Callable[..., ApiSettings], database: Any
) -> None:
    """`database` applies the schema: a submission checks the queue length in `jobs`."""
    s3 = make_s3_client(settings_for(ApiSettings))
    s3.put_object(Bucket=test_env["S3_BUCKET"], Key="acme/in/1.dcm", Body=b"dicom")
    s3.close()
    port = free_port()
    env = {
        **os.environ,
        **test_env,
        "API_PORT": str(port),
        "API_ALLOWED_BUCKETS": test_env["S3_BUCKET"],
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dicompress_api",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        await wait_for_ready(base_url, process)
        audience = settings_for(ApiSettings).jwt_audience
        token = issue_token(test_env["JWT_SECRET"], "acme", audience)
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.post(
                "/jobs",
                json={
                    "s3SourceUri": f"s3://{test_env['S3_BUCKET']}/acme/in",
                    "s3TargetUri": f"s3://{test_env['S3_BUCKET']}/acme/out",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            scrape = await client.get("/metrics")
        assert response.status_code == 202, response.text
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain; version=")
        assert "dicompress_api_jobs_submitted_total 1.0" in scrape.text
        assert 'route="/readyz"' in scrape.text  # the start-up polls, by route template
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode in (0, -signal.SIGTERM)
    logs = [orjson.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert all(entry["service"] == "api" for entry in logs)
    messages = [entry["msg"] for entry in logs]
    assert "job queued" in messages
    assert "Application shutdown complete." in messages
