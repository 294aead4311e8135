"""The whole embedded stack (`start_stack`: Kafka, Postgres, S3 and every service, ingest
included) on free ports in a temporary data dir, so it clashes with no `dicompress up` nor test
run; stopped and removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dicompress_schemas import Topics
from dicompress_stack.net import free_port
from dicompress_stack.stack import RunningStack, StackConfig, start_stack
from dicompress_stack.state import read_state


@dataclass(frozen=True)
class BenchStack:
    """The running stack, and the pid of its ingest service (from its stack.json)."""

    config: StackConfig
    handle: RunningStack
    ingest_pid: int

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.config.topic_prefix)


@contextmanager
def bench_stack(classpath_cache: Path | None) -> Iterator[BenchStack]:
    """Start everything `dicompress up` starts, on free ports; stop it and delete its data."""
    data_dir = Path(tempfile.mkdtemp(prefix="dicompress-bench-ingest-"))
    data_dir.chmod(0o711)  # Postgres's system user must pass through to its own cluster
    # every port the config names (a service added to the stack brings its own port field)
    ports = {name: free_port() for name in StackConfig.model_fields if name.endswith("_port")}
    config = StackConfig.model_validate(
        {"data_dir": data_dir, "classpath_cache": classpath_cache, **ports}
    )
    try:
        stack = start_stack(config)
        try:
            yield BenchStack(config, stack.handle(), _ingest_pid(config))
        finally:
            stack.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _ingest_pid(config: StackConfig) -> int:
    state = read_state(config.state_path)
    pids = [p.pid for p in state.processes if p.name == "ingest"] if state else []
    if not pids:
        raise RuntimeError(f"no ingest process in {config.state_path}")
    return pids[0]
