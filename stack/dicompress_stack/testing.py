"""Backends and service processes for the test suite (tests/conftest.py is a thin layer on this).

One set of backends per test session: containers when a Docker engine answers, else the
embedded stack's own Kafka, Postgres and S3 on free ports. Each test then gets its own topics,
database and bucket on them (`provision_test_env`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import Topics
from dicompress_stack.backends import Backends, start_backends
from dicompress_stack.config import S3_ACCESS_KEY, S3_SECRET_KEY, StackConfig
from dicompress_stack.kafka import create_topics
from dicompress_stack.net import free_port
from dicompress_stack.postgres import create_database, database_url
from dicompress_stack.processes import Supervised
from dicompress_stack.s3 import create_bucket, s3_settings
from dicompress_stack.services import SERVICE_BY_NAME, start_service

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# DICOMPRESS_TEST_BACKENDS=embedded skips the Docker probe even where an engine runs
FORCE_ENV = "DICOMPRESS_TEST_BACKENDS"
# the image of the S3Proxy version the embedded stack runs (s3/pom.xml), as in docker-compose.yml
S3PROXY_IMAGE = "andrewgaul/s3proxy:2.6.0"


@dataclass(frozen=True)
class TestBackends:
    """Where the session's broker, Postgres server and S3 listen."""

    __test__ = False  # not a test class, whatever its name says

    kind: str
    kafka_bootstrap: str
    postgres_admin_url: str
    s3_endpoint_url: str
    s3_access_key: str = S3_ACCESS_KEY
    s3_secret_key: str = S3_SECRET_KEY


def docker_unavailable(environ: Mapping[str, str]) -> str | None:
    """None if a Docker engine answers, else why we will not use one."""
    if environ.get(FORCE_ENV) == "embedded":
        return f"{FORCE_ENV}=embedded"
    try:
        import docker  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return "the 'docker' package is not installed"
    try:
        docker.from_env().ping()
    except Exception as exc:  # any failure to reach the engine means: do without it
        return f"no Docker engine: {type(exc).__name__}"
    return None


@contextmanager
def temporary_backends(
    classpath_cache: Path | None, durable: bool = False
) -> Iterator[StackConfig]:
    """The embedded stack's backends on free ports, so they clash with no `dicompress up`."""
    with restartable_backends(classpath_cache, durable) as backends:
        yield backends.config


@contextmanager
def restartable_backends(classpath_cache: Path | None, durable: bool = False) -> Iterator[Backends]:
    """`temporary_backends` as the `Backends` themselves, so a fault test can restart one.

    Their data lives in a fresh dir under the system temp dir, removed afterwards; not under
    pytest's tmp_path, because a concurrent pytest run chmods /tmp/pytest-of-<user> to 0700,
    which would lock Postgres's system user out of its cluster in the middle of our session.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="dicompress-backends-"))
    data_dir.chmod(0o711)  # Postgres's system user must pass through to its own cluster
    config = StackConfig(
        data_dir=data_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        postgres_port=free_port(),
        s3_port=free_port(),
        classpath_cache=classpath_cache,
    )
    try:
        backends = start_backends(config, durable=durable)
        try:
            yield backends
        finally:
            backends.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def embedded_backends(classpath_cache: Path) -> Iterator[TestBackends]:
    """`temporary_backends` for a test session (not durable: tests need no fsync)."""
    with temporary_backends(classpath_cache) as config:
        yield TestBackends(
            kind="embedded",
            kafka_bootstrap=config.kafka_bootstrap,
            postgres_admin_url=config.postgres_admin_url,
            s3_endpoint_url=config.s3_endpoint_url,
        )


@contextmanager
def container_backends() -> Iterator[TestBackends]:
    """Kafka, Postgres and S3Proxy containers (needs testcontainers[kafka,postgres]); S3Proxy
    is the embedded stack's S3 server too, in the image of the same version."""
    # imported here: only a machine with Docker needs testcontainers (no type information)
    from testcontainers.core.container import DockerContainer  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from testcontainers.core.wait_strategies import HttpWaitStrategy  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found,import-untyped,unused-ignore]

    with ExitStack() as containers:
        kafka = containers.enter_context(
            KafkaContainer("confluentinc/cp-kafka:7.6.1")
            .with_kraft()
            .with_env("KAFKA_LOG_RETENTION_MS", "-1")
            .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        )
        pg = containers.enter_context(
            PostgresContainer(
                "postgres:16-alpine",
                username="dicompress",
                password="dicompress",  # noqa: S106 (a throwaway test container)
                dbname="postgres",
            )
        )
        s3proxy = containers.enter_context(
            DockerContainer(S3PROXY_IMAGE)
            .with_envs(
                S3PROXY_IDENTITY=S3_ACCESS_KEY,
                S3PROXY_CREDENTIAL=S3_SECRET_KEY,
                S3PROXY_IGNORE_UNKNOWN_HEADERS="true",  # as the embedded one (see s3.server)
            )
            .with_exposed_ports(80)
            # it refuses the unsigned probe: 403 means it is up
            .waiting_for(HttpWaitStrategy(80, "/").for_status_code(403))
        )
        pg_host = f"{pg.get_container_host_ip()}:{pg.get_exposed_port(5432)}"
        s3_host = f"{s3proxy.get_container_host_ip()}:{s3proxy.get_exposed_port(80)}"
        yield TestBackends(
            kind="docker",
            kafka_bootstrap=kafka.get_bootstrap_server(),
            postgres_admin_url=f"postgresql://dicompress:dicompress@{pg_host}/postgres",
            s3_endpoint_url=f"http://{s3_host}",
        )


def provision_test_env(backends: TestBackends) -> dict[str, str]:
    """A fresh topic prefix (topics created), database and bucket, as a service's env vars."""
    tag = secrets.token_hex(5)
    prefix, database, bucket = f"t{tag}.", f"t_{tag}", f"t-{tag}"
    create_topics(backends.kafka_bootstrap, Topics(prefix=prefix))
    create_database(backends.postgres_admin_url, database)
    create_bucket(backends.s3_endpoint_url, backends.s3_access_key, backends.s3_secret_key, bucket)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": backends.kafka_bootstrap,
        "TOPIC_PREFIX": prefix,
        "DATABASE_URL": database_url(backends.postgres_admin_url, database),
        "S3_ENDPOINT_URL": backends.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": backends.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": backends.s3_secret_key,
        "JWT_SECRET": secrets.token_urlsafe(32),
        "S3_BUCKET": bucket,
    }


def s3_client(env: Mapping[str, str]) -> S3Client:
    """A boto3 S3 client for the S3 of `env` (as `provision_test_env` returns it), built by the
    services' own factory."""
    return make_s3_client(
        s3_settings(env["S3_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    )


@dataclass(frozen=True)
class RunningService:
    """A service a test started: its port and how to reach it."""

    name: str
    port: int
    process: Supervised

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@dataclass
class ServiceRunner:
    """Starts services as subprocesses with a test's env; `stop_all()` stops them in reverse."""

    base_env: Mapping[str, str]
    workdir: Path
    started: list[RunningService] = field(default_factory=list)

    def start(
        self, name: str, env: Mapping[str, str] | None = None, timeout_s: float = 120.0
    ) -> RunningService:
        """Start service `name` ('progress', 'compressor', 'notifier' or 'api') with the test's
        env plus `env`, on a free port unless `env` names one; return once /healthz is 200."""
        spec = SERVICE_BY_NAME[name]
        own = {**self.base_env, **(env or {})}
        own.setdefault(spec.port_env, str(free_port()))
        process = start_service(
            spec, {**os.environ, **own}, self.workdir / f"{name}-{len(self.started)}", timeout_s
        )
        service = RunningService(name, int(own[spec.port_env]), process)
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().process.stop()
