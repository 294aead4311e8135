"""Supervised subprocesses: started in their own process group, logged to a file, waited until
ready, and stopped with SIGTERM, then SIGKILL, so nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dicompress_stack.errors import StackError

Check = Callable[[], bool]


@dataclass
class Supervised:
    """One child process and the file its stdout and stderr go to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def wait_ready(self, check: Check, what: str, timeout_s: float) -> None:
        """Poll `check` until it passes; fail fast if the process dies, and name what failed."""
        deadline = time.monotonic() + timeout_s
        while not check():
            code = self.popen.poll()
            if code is not None:
                raise StackError(
                    f"{self.name} exited with code {code} before {what}\n"
                    f"--- last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} was not ready after {timeout_s:g} s: {what}\n"
                    f"--- last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def started(self, check: Check, what: str, timeout_s: float) -> Supervised:
        """This process once `wait_ready` passed; stopped when it did not (or we were
        interrupted meanwhile), so no half-started process is left behind."""
        try:
            self.wait_ready(check, what, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = 15.0) -> int:
        """SIGTERM the whole group, SIGKILL it after `grace_s`; return the exit code."""
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.popen.wait()
        # the leader is gone; any worker it left behind (a process pool, a JVM helper) goes too
        _signal_group(self.pid, signal.SIGKILL)
        return self.popen.returncode


def start_process(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Supervised:
    """Start `argv` in a new session (its own process group) with output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    return Supervised(name, popen, log_path)


def stop_recorded(pid: int, grace_s: float = 15.0) -> None:
    """Stop a process group we started in an earlier run (not our child, so poll, not wait)."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal_group(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    """The command line of `pid`, space-joined, or '' if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file (reads at most its last 64 KiB)."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 65536))
            text = log.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)
