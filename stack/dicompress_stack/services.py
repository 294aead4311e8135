"""The dicompress services as subprocesses: how each is started and how it shows ready."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dicompress_stack.config import StackConfig
from dicompress_stack.errors import StackError
from dicompress_stack.net import http_ok
from dicompress_stack.processes import Supervised, start_process

READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServiceSpec:
    """`python -m <module> <args>`, ready when GET /healthz on the port in `port_env` is 200."""

    name: str
    module: str
    args: tuple[str, ...]
    port_env: str
    # a variable naming the directory for the service's local files, if it keeps any
    data_dir_env: str | None = None

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "-m", self.module, *self.args]

    def health_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/healthz"


# Start order: the projection first (it applies the database migrations), the API last (once
# it answers, everything behind it is ready).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "progress",
        "dicompress_progress",
        ("worker", "-l", "info"),
        "PROGRESS_WEB_PORT",
        data_dir_env="PROGRESS_DATA_DIR",  # faust insists on a data dir
    ),
    ServiceSpec("compressor", "dicompress_compressor", (), "COMPRESSOR_HEALTH_PORT"),
    ServiceSpec("ingest", "dicompress_ingest", (), "INGEST_HEALTH_PORT"),
    ServiceSpec("products", "dicompress_products", (), "PRODUCTS_HEALTH_PORT"),
    ServiceSpec("renderer", "dicompress_renderer", (), "RENDERER_HEALTH_PORT"),
    ServiceSpec("notifier", "dicompress_notifier", (), "NOTIFIER_PORT"),
    ServiceSpec("api", "dicompress_api", (), "API_PORT"),
)
SERVICE_BY_NAME = {spec.name: spec for spec in SERVICES}


@dataclass(frozen=True)
class ServiceInstance:
    """One process of a service in a stack: the compressor may run several (one consumer group,
    the partitions spread over them), each on its own health port."""

    name: str
    spec: ServiceSpec
    port: int

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with this instance's own port."""
        return {**base, self.spec.port_env: str(self.port)}

    @property
    def health_url(self) -> str:
        return self.spec.health_url(self.port)


def service_instances(config: StackConfig) -> list[ServiceInstance]:
    """Every process of the stack's services, in start order (`config.compressors` compressors)."""
    ports = config.service_ports()
    found: list[ServiceInstance] = []
    for spec in SERVICES:
        names = config.compressor_ports() if spec.name == "compressor" else {spec.name: 0}
        found.extend(ServiceInstance(name, spec, ports[name]) for name in names)
    return found


def start_service(
    spec: ServiceSpec,
    env: Mapping[str, str],
    workdir: Path,
    timeout_s: float = READY_TIMEOUT_S,
) -> Supervised:
    """Start one service with `env` (complete: it replaces ours) and wait until it is healthy.

    It runs in `workdir`, where its log goes and where it keeps local files (unless `env`
    already says where).
    """
    try:
        port = int(env[spec.port_env])
    except (KeyError, ValueError):
        raise StackError(f"{spec.name}: {spec.port_env} must be set to a port number") from None
    workdir.mkdir(parents=True, exist_ok=True)
    url = spec.health_url(port)
    own = {"PYTHONUNBUFFERED": "1"}
    if spec.data_dir_env:
        own[spec.data_dir_env] = env.get(spec.data_dir_env) or str(workdir / "data")
    process = start_process(
        spec.name, spec.argv(), workdir / f"{spec.name}.log", env={**env, **own}, cwd=workdir
    )
    return process.started(lambda: http_ok(url), f"GET {url} answered 200", timeout_s)
