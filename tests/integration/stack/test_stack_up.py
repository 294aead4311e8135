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
from dicompress_stack.processes import Supervised, pid_alive, start_process
from dicompress_stack.stack import attach, clear_stale, running
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
    "products_health_port",
    "renderer_health_port",
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


def test_up_serves_stops_cleanly_and_comes_back_with_its_data(
    stack_dir: Path, request: pytest.FixtureRequest
) -> None:
    """Two runs on one data dir (one test: each start of the whole stack costs ~30 s): the first
    serves, `env` and `token` work, an object is stored, SIGTERM stops every process and frees
    every port; the second finds the object as it was stored."""
    ports = {name: free_port() for name in PORT_FIELDS}
    env = {**os.environ, **{f"DICOMPRESS_{k.upper()}": str(v) for k, v in ports.items()}}
    if (cache := getattr(request.config, "cache", None)) is not None:  # -p no:cacheprovider
        env["DICOMPRESS_CLASSPATH_CACHE"] = str(cache.mkdir("dicompress-kafka-classpath"))
    bucket = StackConfig().bucket

    up = start_up(stack_dir, env, 1)
    try:
        wait_for_banner(up)
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
            "kafka", "s3", "postgres", "progress", "compressor", "ingest", "products",
            "renderer", "notifier", "api",
        ]  # fmt: skip
        stack = attach(stack_dir)
        assert stack is not None
        stack.s3_client().put_object(
            Bucket=bucket, Key="acme/kept.dcm", Body=b"slice", Metadata={"job_id": "j1"}
        )
    finally:
        up.popen.send_signal(signal.SIGTERM)
        code = up.popen.wait(timeout=120)
    assert code == 0, up.log_tail()
    assert "stopped" in up.log_tail(5)
    assert not (stack_dir / "stack.json").exists()
    assert [p.name for p in state.processes if pid_alive(p.pid)] == []
    assert [name for name, port in ports.items() if port_open(port)] == []
    assert cli(stack_dir, env, "env").returncode == 1

    again = start_up(stack_dir, env, 2)
    try:
        wait_for_banner(again)
        stack = attach(stack_dir)
        assert stack is not None
        kept = stack.s3_client().get_object(Bucket=bucket, Key="acme/kept.dcm")
        assert (kept["Body"].read(), kept["Metadata"]) == (b"slice", {"job_id": "j1"})
    finally:
        again.popen.send_signal(signal.SIGTERM)
        code = again.popen.wait(timeout=120)
    assert code == 0, again.log_tail()


def start_up(stack_dir: Path, env: dict[str, str], run: int) -> Supervised:
    return start_process(
        "dicompress up",
        [sys.executable, "-m", "dicompress_stack", "--data-dir", str(stack_dir), "up"],
        stack_dir / f"up-{run}.log",
        env=env,
    )


def wait_for_banner(up: Supervised) -> None:
    up.wait_ready(lambda: "dicompress is up" in up.log_tail(), "it printed its banner", 300)
