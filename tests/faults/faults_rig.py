"""A whole stack for fault scenarios: its own backends (which a scenario may restart), the four
services as subprocesses (which a scenario may kill with SIGKILL and start again), a series in
S3, and the clients a scenario needs (API, WebSocket, projection).

Shared by tests/faults/ (which assert on the outcome) and bench/bench_faults.py (which records
it); no pytest here, so a timeout is a `RigTimeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from dicompress_infra.auth import issue_token
from dicompress_stack.backends import Backends
from dicompress_stack.net import free_port
from dicompress_stack.services import SERVICE_BY_NAME, start_service
from dicompress_stack.synthetic_ct import generate_series
from dicompress_stack.testing import (
    RunningService,
    TestBackends,
    provision_test_env,
    s3_client,
)

TENANT = "clinic-faults"
SERIES_PREFIX = f"{TENANT}/series/ct/"


class RigTimeout(AssertionError):
    """A condition a scenario waited on did not come in time."""


async def wait_for(
    check: Callable[[], Any], what: str, within_s: float, interval_s: float = 0.1
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; raise RigTimeout after
    `within_s`. Errors of a backend that is down count as 'not yet'."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
        except (TimeoutError, OSError, httpx.TransportError, asyncpg.PostgresError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise RigTimeout(f"timed out after {within_s:g} s waiting for {what}")
        await asyncio.sleep(interval_s)


def as_test_backends(backends: Backends) -> TestBackends:
    """Where `backends` listen, as the test fixtures describe the session's backends."""
    config = backends.config
    return TestBackends(
        kind="embedded",
        kafka_bootstrap=config.kafka_bootstrap,
        postgres_admin_url=config.postgres_admin_url,
        s3_endpoint_url=config.s3_endpoint_url,
    )


def service_env(backends: TestBackends, compressor_processes: int = 1) -> dict[str, str]:
    """A fresh topic prefix, database and bucket on `backends`, and what every service needs on
    top: the bucket allowed (the study services' too), a consumer group of its own for the
    compressors, a short progress session timeout (a SIGKILLed worker's partitions come back
    within seconds, not 30)."""
    env = provision_test_env(backends)
    bucket = env["S3_BUCKET"]
    return env | {
        "API_ALLOWED_BUCKETS": json.dumps([bucket]),
        "COMPRESSOR_ALLOWED_BUCKETS": json.dumps([bucket]),
        "INGEST_ALLOWED_BUCKETS": json.dumps([bucket]),
        "RENDERER_ALLOWED_BUCKETS": json.dumps([bucket]),
        "COMPRESSOR_PROCESSES": str(compressor_processes),
        "COMPRESSOR_GROUP_ID": f"compressor-{bucket}",
        "PROGRESS_SESSION_TIMEOUT_S": "6",
    }


def upload_series(env: dict[str, str], slices: int, prefix: str = SERIES_PREFIX) -> None:
    s3 = s3_client(env)
    for name, data in generate_series(n_slices=slices, seed=5):
        s3.put_object(Bucket=env["S3_BUCKET"], Key=f"{prefix}{name}", Body=data)


def kill_hard(process: psutil.Process) -> None:
    """SIGKILL a service and every process it started: nothing gets to clean up."""
    children = process.children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    process.wait(timeout=10)


@dataclass
class Rig:
    """The running stack of one scenario run, by role: 'progress', 'compressor' (and
    'compressor-2'...), 'notifier', 'api' (and, for the study scenario, 'ingest', 'products',
    'renderer'). `backends` is None on backends it may not restart
    (the test session's shared ones)."""

    backends: Backends | None
    env: dict[str, str]
    workdir: Path
    slices: int
    services: dict[str, RunningService] = field(default_factory=dict)
    # every start gets a work dir (log, local files) of its own; next() is atomic across threads
    starts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def token(self) -> str:
        return issue_token(self.env["JWT_SECRET"], TENANT, "dicompress")

    @property
    def own_backends(self) -> Backends:
        """The backends a scenario may stop and restart."""
        if self.backends is None:
            raise AssertionError("this rig runs on shared backends: it must not harm them")
        return self.backends

    @property
    def bucket(self) -> str:
        return self.env["S3_BUCKET"]

    def start(self, role: str, env: dict[str, str] | None = None) -> RunningService:
        """Start the service of `role` ('compressor-2' is a second compressor) with the rig's env
        plus `env`, on a free port unless `env` names one, and wait until it is healthy."""
        spec = SERVICE_BY_NAME[role.split("-")[0]]
        own = {**self.env, **(env or {})}
        own.setdefault(spec.port_env, str(free_port()))  # a restart may keep its old port
        workdir = self.workdir / f"{role}-{next(self.starts)}"
        process = start_service(spec, {**os.environ, **own}, workdir)
        service = RunningService(spec.name, int(own[spec.port_env]), process)
        self.services[role] = service
        return service

    async def start_many(self, *roles: str) -> None:
        """Start services side by side (each start mostly waits for its process to be ready)."""
        await asyncio.gather(*(asyncio.to_thread(self.start, role) for role in roles))

    async def start_all(self, *extra: str) -> None:
        """The four services (and `extra` roles, e.g. 'compressor-2'): progress first, since it
        applies the database migrations the others read through."""
        await asyncio.to_thread(self.start, "progress")
        await self.start_many("compressor", "notifier", "api", *extra)

    def kill9(self, role: str) -> None:
        """SIGKILL the service of `role` and its children; it stays dead until `start(role)`."""
        service = self.services.pop(role)
        kill_hard(psutil.Process(service.process.pid))
        service.process.stop()  # reaps it; the group is gone already

    def stop(self, role: str) -> None:
        """SIGTERM the service of `role` (a clean stop: it leaves its consumer group)."""
        self.services.pop(role).process.stop()

    def stop_all(self) -> None:
        while self.services:
            self.services.popitem()[1].process.stop()

    def dead(self) -> list[str]:
        return [role for role, service in self.services.items() if not service.process.alive()]

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {role}:\n{service.process.log_tail(15)}"
            for role, service in self.services.items()
        )


async def submit(rig: Rig, count: int) -> list[str]:
    """Submit `count` jobs of the uploaded series through the API; return their ids in order."""
    api = rig.services["api"].base_url
    headers = {"Authorization": f"Bearer {rig.token}"}
    body = {
        "s3SourceUri": f"s3://{rig.bucket}/{SERIES_PREFIX}",
        "s3TargetUri": f"s3://{rig.bucket}/{TENANT}/out/",
        "compressionRate": 20,
        "priority": "batch",  # a run of jobs, as a script sends them: the batch lane
    }
    ids = []
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as http:
        for _ in range(count):
            answer = await http.post("/jobs", json=body)
            if answer.status_code != 202:
                raise AssertionError(f"POST /jobs: {answer.status_code} {answer.text}")
            ids.append(answer.json()["jobId"])
    return ids


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    began = time.monotonic()
    await action()
    return time.monotonic() - began
