"""`dicompress up` as a person runs it: everything answers, `env` and `token` work against it,
and SIGTERM stops every process it started and frees every port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicompress_infra.auth import tenant_of
from dicompress_stack.config import StackConfig, load_or_create_secret
from dicompress_stack.net import free_port, http_ok, port_open
from dicompress_stack.postgres import PostgresServer, bin_dir
from dicompress_stack.processes import pid_alive, start_process
from dicompress_stack.stack import clear_stale, running
from dicompress_stack.state import read_state

pytestmark = pytest.mark.integration

PORT_FIELDS = (
    "kafka_port",
    "kafka_controller_port",
    "postgres_port",
    "s3_port",
    "api_port",
    "notifier_port",
    "progress_web_port",
    "compressor_health_port",
    "ingest_health_port",
)


@pytest.fixture
def stack_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A data dir Postgres's system user can reach (see dicompress_stack.testing)."""
    path = Path(tempfile.mkdtemp(prefix="dicompress-up-"))
    path.chmod(0o711)
    yield path
    # whatever a failed test left running goes before the files
    clear_stale(StackConfig(data_dir=path))
    leftover = PostgresServer(path / "postgres", 0, bin_dir())
    if leftover.pid() is not None:
        leftover.stop()
    shutil.rmtree(path, ignore_errors=True)


def cli(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicompress_stack", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_up_serves_until_sigterm_then_leaves_nothing(
    stack_dir: Path, request: pytest.FixtureRequest
) -> None:
    ports = {name: free_port() for name in PORT_FIELDS}
    env = {**os.environ, **{f"DICOMPRESS_{k.upper()}": str(v) for k, v in ports.items()}}
    if (cache := getattr(request.config, "cache", None)) is not None:  # -p no:cacheprovider
        env["DICOMPRESS_CLASSPATH_CACHE"] = str(cache.mkdir("dicompress-kafka-classpath"))
    up = start_process(
        "dicompress up",
        [sys.executable, "-m", "dicompress_stack", "--data-dir", str(stack_dir), "up"],
        stack_dir / "up.log",
        env=env,
    )
    try:
        up.wait_ready(lambda: "dicompress is up" in up.log_tail(), "it printed its banner", 300)
        assert running(stack_dir)
        started = re.search(r"dicompress is up in ([0-9.]+) s", up.log_tail(60))
        assert started is not None
        print(f"\n`dicompress up` started the whole stack in {started[1]} s")

        exports = cli(stack_dir, env, "env")
        assert exports.returncode == 0, exports.stderr
        assert f"export API_URL=http://127.0.0.1:{ports['api_port']}\n" in exports.stdout
        assert f"export WS_URL=ws://127.0.0.1:{ports['notifier_port']}/ws\n" in exports.stdout
        assert http_ok(f"http://127.0.0.1:{ports['api_port']}/healthz")

        token = cli(stack_dir, env, "token", "--tenant", "acme").stdout.strip()
        secret = load_or_create_secret(StackConfig(data_dir=stack_dir))
        assert tenant_of(token, secret, "dicompress") == "acme"

        state = read_state(stack_dir / "stack.json")
        assert state is not None
        assert [p.name for p in state.processes] == [
            "kafka", "s3", "postgres", "progress", "compressor", "ingest", "notifier", "api",
        ]  # fmt: skip
    finally:
        up.popen.send_signal(signal.SIGTERM)
        code = up.popen.wait(timeout=120)
    assert code == 0, up.log_tail()
    assert "stopped" in up.log_tail(5)
    assert not (stack_dir / "stack.json").exists()
    assert [p.name for p in state.processes if pid_alive(p.pid)] == []
    assert [name for name, port in ports.items() if port_open(port)] == []
    assert cli(stack_dir, env, "env").returncode == 1
