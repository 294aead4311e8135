"""Fixtures for every test tier. Unit tests need none of them; integration and e2e tests get
real backends: started once per session, on first use, and torn down at its end.

- `backends` (session): where Kafka, Postgres and S3 listen, and which `.kind` they are
  (testcontainers when a Docker engine answers, else the embedded stack's own on free ports).
- `test_env` (function): a service's env vars on a fresh topic prefix, database and bucket.
- `settings_for(SettingsClass, **overrides)`: settings from `test_env`, without os.environ.
- `service_runner` (function): starts services as subprocesses; stops them at teardown.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaProducer

from dicompress_infra.kafka import make_producer
from dicompress_stack.testing import (
    ServiceRunner,
    TestBackends,
    container_backends,
    docker_unavailable,
    embedded_backends,
    provision_test_env,
)

S = TypeVar("S")

_started_kind: list[str] = []


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "backends: started on first use by an integration/e2e test "
        "(testcontainers if a Docker engine answers, else embedded)"
    )


# A skip in CI is a test that did not run while the build says green: only the Docker
# backend is optional (the embedded stack stands in for it), anything else must fail.
OPTIONAL_IN_CI = "docker"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With CI=true, a skipped test is reported failed unless its reason names Docker."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not _in_ci():
        return
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    if OPTIONAL_IN_CI in reason.lower():
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI (CI=true), where only Docker-backend tests may skip: {reason}"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _started_kind:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def backends(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestBackends]:
    """Kafka, Postgres and S3 for the whole session."""
    why_not_docker = docker_unavailable(os.environ)
    manager: AbstractContextManager[TestBackends]
    if why_not_docker is None:
        manager = container_backends()
    else:
        # absent under `-p no:cacheprovider`
        cache = getattr(request.config, "cache", None)
        classpath_cache = (
            cache.mkdir("dicompress-kafka-classpath")
            if cache is not None
            else tmp_path_factory.mktemp("classpath")
        )
        manager = embedded_backends(classpath_cache)
    started = time.monotonic()
    with manager as found:
        seconds = time.monotonic() - started
        line = f"backends: {found.kind}" + (f" ({why_not_docker})" if why_not_docker else "")
        line += f", started in {seconds:.1f} s"
        _started_kind.append(line)
        _say(request.config, line)
        yield found


def _say(config: pytest.Config, line: str) -> None:
    """Write a line to the terminal now, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n{line}")


@pytest.fixture
def test_env(backends: TestBackends) -> dict[str, str]:
    """Env vars for one service under test: its own topics, database, bucket and JWT secret."""
    return provision_test_env(backends)


@pytest.fixture
def settings_for(test_env: dict[str, str]) -> Callable[..., Any]:
    """`settings_for(SettingsClass, **overrides)`: settings built from `test_env` and the
    overrides (field names), ignoring the keys the class does not have."""

    def build(cls: type[S], **overrides: Any) -> S:
        return cls(**({key.lower(): value for key, value in test_env.items()} | overrides))

    return build


@pytest.fixture
async def producer(test_env: dict[str, str]) -> AsyncIterator[AIOKafkaProducer]:
    """A started Kafka producer on the test's broker (the services' own `make_producer`)."""
    producer = make_producer(test_env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture
def service_runner(
    test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceRunner]:
    """`service_runner.start("api", env={...})` runs a service on `test_env` (plus `env`) on a
    free port, and returns once its /healthz answers; all are stopped at teardown."""
    runner = ServiceRunner(base_env=test_env, workdir=tmp_path_factory.mktemp("services"))
    try:
        yield runner
    finally:
        runner.stop_all()
