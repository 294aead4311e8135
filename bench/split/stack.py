"""The embedded stack of one configuration: `bench_stack` (every service, free ports, a temp
data dir) with the compressor settings of the configuration in the services' environment, and
as many compressors as it asks for.

`bench_stack` starts the stack's default of one compressor (it builds its `StackConfig` from
ports alone, so `DICOMPRESS_COMPRESSORS` does not reach it); the others are started here as
`start_services` starts any compressor instance (`ServiceInstance`, `start_service`), with the
stack's own service environment, and stopped before the stack is.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.ingest.stack import BenchStack, bench_stack
from bench.products.cpu import service_pids

from dicompress_stack.config import compressor_name, load_or_create_secret, service_env
from dicompress_stack.net import free_port
from dicompress_stack.services import SERVICE_BY_NAME, ServiceInstance, start_service

# a service's JSON log line at these levels, or a traceback outside one (a crash at start)
_BAD = re.compile(r'"level":"(ERROR|CRITICAL)"|^Traceback')


@dataclass(frozen=True)
class SplitStack:
    """The running stack and its compressors: instance name -> pid."""

    bench: BenchStack
    compressors: dict[str, int]

    @property
    def pids(self) -> dict[str, int]:
        """Every service process of the stack by name, the added compressors included."""
        return {**service_pids(self.bench.config), **self.compressors}

    def worker_names(self) -> dict[str, str]:
        """A compressor's worker id (`hostname-pid`, its default) -> its instance name."""
        host = socket.gethostname()
        return {f"{host}-{pid}": name for name, pid in self.compressors.items()}

    def log_errors(self) -> list[str]:
        """ERROR and CRITICAL lines (and tracebacks) of every service log so far."""
        found = []
        for path in sorted(self.bench.config.data_dir.glob("*/*.log")):
            lines = path.read_text(errors="replace").splitlines()
            found += [f"{path.parent.name}: {line[:300]}" for line in lines if _BAD.search(line)]
        return found


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment (the stack passes it on to every service), the
    previous values back afterwards, so each configuration starts from the same ground."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def split_stack(
    compressors: int, env: Mapping[str, str], classpath_cache: Path | None
) -> Iterator[SplitStack]:
    """A fresh stack whose services all get `env`, with `compressors` compressor processes."""
    with _environ(env), bench_stack(classpath_cache) as stack, ExitStack() as extra:
        config = stack.config
        base = {**os.environ, **service_env(config, load_or_create_secret(config))}
        pids = {compressor_name(0): service_pids(config)[compressor_name(0)]}
        for index in range(1, compressors):
            instance = ServiceInstance(
                compressor_name(index), SERVICE_BY_NAME["compressor"], free_port()
            )
            process = start_service(
                instance.spec, instance.env(base), config.data_dir / instance.name
            )
            extra.callback(process.stop)
            pids[instance.name] = process.pid
        yield SplitStack(stack, pids)
