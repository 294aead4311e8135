"""The embedded stack's composition: the backends (see `backends`), then the five services.

`start_stack` brings everything up and records it in `stack.json`; `running` and `attach` let
later commands (`dicompress env`, `dicompress demo`) find and reuse it.
"""

from __future__ import annotations

import datetime
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from dicompress_infra.auth import issue_token
from dicompress_infra.s3 import make_s3_client
from dicompress_stack import s3
from dicompress_stack.backends import Backends, require_free_ports, start_backends, stop_all
from dicompress_stack.config import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    StackConfig,
    endpoints,
    load_or_create_secret,
    service_env,
)
from dicompress_stack.errors import StackError
from dicompress_stack.net import http_ok, port_open
from dicompress_stack.processes import Supervised, pid_alive, stop_recorded
from dicompress_stack.services import service_instances, start_service
from dicompress_stack.state import (
    ProcessRecord,
    StackState,
    is_alive,
    read_state,
    remove_state,
    write_state,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
JWT_AUDIENCE = "dicompress"

__all__ = [
    "Backends",
    "RunningStack",
    "Stack",
    "StackConfig",
    "attach",
    "endpoints",
    "ensure_running",
    "running",
    "service_env",
    "start_backends",
    "start_services",
    "start_stack",
]


def start_services(config: StackConfig, env: Mapping[str, str]) -> list[Supervised]:
    """Start progress, the compressor(s), ingest, notifier and api in that order, each healthy
    before the next. On failure the ones already started are stopped again."""
    require_free_ports(config.service_ports())
    started: list[Supervised] = []
    try:
        for instance in service_instances(config):
            began = time.monotonic()
            workdir = config.data_dir / instance.name
            started.append(start_service(instance.spec, instance.env(env), workdir))
            log.info("%s ready in %.1f s", instance.name, time.monotonic() - began)
    except BaseException:
        stop_all([process.stop for process in reversed(started)])
        raise
    return started


@dataclass
class Stack:
    """A stack this process started; `stop()` stops it in reverse order and forgets it."""

    config: StackConfig
    backends: Backends
    services: list[Supervised] = field(default_factory=list)

    def stop(self) -> None:
        try:
            stop_all([process.stop for process in reversed(self.services)])
            self.backends.stop()
        finally:
            remove_state(self.config.state_path)

    def dead(self) -> list[Supervised]:
        """Processes of the stack that have exited on their own."""
        return [p for p in [*self.services, self.backends.kafka, self.backends.s3] if not p.alive()]

    def handle(self) -> RunningStack:
        return RunningStack(self.config)


def start_stack(config: StackConfig) -> Stack:
    """Everything `dicompress up` starts, recorded in the data dir's stack.json (also while the
    services start, so a crash half-way leaves a record of what to clean up)."""
    if running(config.data_dir):
        raise StackError(f"a stack already runs from {config.data_dir}; see `dicompress env`")
    clear_stale(config)
    require_free_ports(config.backend_ports() | config.service_ports())
    secret = load_or_create_secret(config)
    stack = Stack(config, start_backends(config))
    try:
        _record(stack)
        stack.services = start_services(config, {**os.environ, **service_env(config, secret)})
        _record(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _record(stack: Stack) -> None:
    records = stack.backends.records() + [
        ProcessRecord(name=i.name, pid=p.pid, marker=i.spec.module, log=p.log_path)
        for i, p in zip(service_instances(stack.config), stack.services, strict=False)
    ]
    write_state(
        stack.config.state_path,
        StackState(
            config=stack.config,
            started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            endpoints=endpoints(stack.config),
            processes=tuple(records),
            owner_pid=os.getpid(),
        ),
    )


@dataclass(frozen=True)
class RunningStack:
    """What a client of a running stack (ours or another command's) needs."""

    config: StackConfig

    def endpoints(self) -> dict[str, str]:
        return endpoints(self.config)

    def s3_client(self) -> S3Client:
        return make_s3_client(
            s3.s3_settings(self.config.s3_endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY)
        )

    def token(self, tenant: str = "demo", ttl_s: int = 12 * 3600) -> str:
        """A development bearer token for `tenant`, signed with the stack's secret."""
        return issue_token(load_or_create_secret(self.config), tenant, JWT_AUDIENCE, ttl_s)


def attach(data_dir: Path) -> RunningStack | None:
    """The stack recorded in `data_dir`, if it is running and healthy."""
    state = read_state(data_dir / "stack.json")
    if state is None or not healthy(state):
        return None
    return RunningStack(state.config)


def running(data_dir: Path) -> bool:
    """Whether a stack recorded in `data_dir` is alive: its processes run and answer."""
    return attach(data_dir) is not None


def healthy(state: StackState) -> bool:
    """Every recorded process is alive and every endpoint answers."""
    config = state.config
    return (
        all(is_alive(record) for record in state.processes)
        and port_open(config.kafka_port)
        and port_open(config.postgres_port)
        and s3.s3_answers(config.s3_endpoint_url)
        and all(http_ok(instance.health_url) for instance in service_instances(config))
    )


def ensure_running(data_dir: Path | None, cleanup: ExitStack) -> RunningStack:
    """The stack running from `data_dir`, or a new one that `cleanup` stops at its exit."""
    config = StackConfig.from_env(os.environ, data_dir)
    found = attach(config.data_dir)
    if found is not None:
        log.info("using the stack already running from %s", config.data_dir)
        return found
    if threading.current_thread() is threading.main_thread():
        # a SIGTERM must stop what we start, as Ctrl-C does, not orphan it
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
        cleanup.callback(signal.signal, signal.SIGTERM, previous)
    stack = start_stack(config)
    cleanup.callback(stack.stop)
    return stack.handle()


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler that makes SIGTERM take the same clean-up path as Ctrl-C."""
    raise KeyboardInterrupt


def clear_stale(config: StackConfig) -> None:
    """Stop what a stack that died half-way left behind (Postgres is handled by its start)."""
    state = read_state(config.state_path)
    if state is None:
        return
    alive = [record for record in state.processes if is_alive(record)]
    if alive and state.owner_pid != os.getpid() and pid_alive(state.owner_pid):
        raise StackError(
            f"process {state.owner_pid} is starting or running a stack from {config.data_dir}; "
            "stop it first (Ctrl-C where `dicompress up` runs, or kill it)"
        )
    for record in reversed(state.processes):
        if record.name != "postgres" and is_alive(record):
            log.warning("stopping %s (pid %d) left by an earlier stack", record.name, record.pid)
            stop_recorded(record.pid)
    remove_state(config.state_path)
