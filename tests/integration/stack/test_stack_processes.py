"""Supervised subprocesses: ready checks that fail with a reason, and stops that leave nothing."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dicompress_stack.errors import StackError
from dicompress_stack.kafka import resolve_classpath
from dicompress_stack.net import free_port, http_ok
from dicompress_stack.processes import Supervised, pid_alive, start_process

pytestmark = pytest.mark.integration

# A server with a child of its own: the stop must take the whole group down.
SERVER = textwrap.dedent(
    """
    import http.server, signal, subprocess, sys
    if sys.argv[3] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", "300"])
    open(sys.argv[2], "w").write(str(child.pid))

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
    """
)


def start_server(tmp_path: Path, mode: str) -> tuple[Supervised, str, Path]:
    port = free_port()
    child_pid_file = tmp_path / "child.pid"
    process = start_process(
        "fake",
        [sys.executable, "-c", SERVER, str(port), str(child_pid_file), mode],
        tmp_path / "fake.log",
    )
    return process, f"http://127.0.0.1:{port}/healthz", child_pid_file


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_ready_process_stops_with_its_children(tmp_path: Path) -> None:
    process, url, child_pid_file = start_server(tmp_path, "polite")
    try:
        process.wait_ready(lambda: http_ok(url), f"GET {url}", timeout_s=30)
        wait_for(lambda: child_pid_file.exists() and child_pid_file.read_text() != "")
        child = int(child_pid_file.read_text())
        assert pid_alive(child)
    finally:
        code = process.stop(grace_s=10)
    assert code == -15  # it obeyed SIGTERM
    wait_for(lambda: not pid_alive(child))
    assert "serving" in process.log_tail()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    process, url, _ = start_server(tmp_path, "stubborn")
    process.wait_ready(lambda: http_ok(url), f"GET {url}", timeout_s=30)
    began = time.monotonic()
    code = process.stop(grace_s=1)
    assert code == -9
    assert 1 <= time.monotonic() - began < 10


def test_an_early_exit_is_reported_with_its_code_and_log(tmp_path: Path) -> None:
    process = start_process(
        "crasher",
        [sys.executable, "-c", "print('cannot reach the broker'); raise SystemExit(3)"],
        tmp_path / "crasher.log",
    )
    with pytest.raises(StackError, match="crasher exited with code 3") as failure:
        process.wait_ready(lambda: False, "the health check passed", timeout_s=30)
    assert "cannot reach the broker" in str(failure.value)
    assert str(tmp_path / "crasher.log") in str(failure.value)


def test_a_timeout_names_what_was_awaited(tmp_path: Path) -> None:
    process = start_process(
        "sleeper",
        [sys.executable, "-c", "import time; print('still booting', flush=True); time.sleep(60)"],
        tmp_path / "sleeper.log",
    )
    try:
        wait_for(lambda: "still booting" in process.log_tail())
        with pytest.raises(StackError, match=r"sleeper was not ready after 0.5 s: the moon rose"):
            process.wait_ready(lambda: False, "the moon rose", timeout_s=0.5)
    finally:
        process.stop(grace_s=5)
    assert not process.alive()


def test_a_missing_program_is_a_stack_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="cannot start ghost"):
        start_process("ghost", [str(tmp_path / "no-such-program")], tmp_path / "ghost.log")


def test_without_maven_the_broker_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no mvn, no java
    with pytest.raises(StackError, match=r"'mvn' is not on PATH.*apt-get install maven"):
        resolve_classpath(tmp_path / "cache")
