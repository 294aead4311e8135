"""Peak resident memory of a set of processes and their descendants, by polling.

A tool's "peak RSS" is the largest sum, over one sample, of the RSS of every process it runs
(two gdcmconv at once count twice). Sampling every 20 ms can miss a process that lives less
than that; gdcmconv lives ~50-70 ms per slice, so the figure is close, never above the truth.

Finding a tree's members walks all of /proc (~1.4 ms with 66 processes), which at 50 samples a
second took ~1 core-second of a 15 s pipeline run away from the processes being measured. For
trees whose members live long (our service and pool processes, dcmjs-codecs' node processes) the
walk is repeated only every `rescan_every` samples; the samples in between read the known
members' RSS alone. gdcmconv starts a process per slice, so its tree is walked at every sample.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

INTERVAL_S = 0.02
# for processes that live the whole run: find them every 0.5 s, sample their RSS every 20 ms
LONG_LIVED_RESCAN = 25


def tree_members(roots: Sequence[int]) -> list[psutil.Process]:
    """`roots` and all their descendants now, each once; vanished processes left out."""
    found: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            process = psutil.Process(root)
            members = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            found.setdefault(member.pid, member)
    return list(found.values())


def summed_rss(members: Sequence[psutil.Process]) -> int:
    """Summed RSS of `members` now; vanished processes count 0."""
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


class PeakRss:
    """Context manager: polls `roots()` (pids, asked again with each walk of the tree) until it
    exits. `rescan_every=1` walks the tree at every sample, for short-lived processes."""

    def __init__(self, roots: Callable[[], Sequence[int]], rescan_every: int = 1) -> None:
        self._roots = roots
        self._rescan_every = rescan_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="peak-rss", daemon=True)
        self.peak_bytes = 0

    def _poll(self) -> None:
        members: list[psutil.Process] = []
        for tick in itertools.count():
            if tick % self._rescan_every == 0:
                members = tree_members(self._roots())
            self.peak_bytes = max(self.peak_bytes, summed_rss(members))
            if self._stop.wait(INTERVAL_S):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


def spawned_workers() -> list[int]:
    """Our multiprocessing 'spawn' workers (a process pool), not its resource tracker nor the
    backends we started."""
    pids = []
    for child in psutil.Process().children():
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids


@dataclass(frozen=True)
class Watched:
    """Wall seconds from the first start to the last exit, and the peak summed RSS."""

    seconds: float
    peak_rss_bytes: int


class ToolFailed(RuntimeError):
    """A tool exited with an error; the message holds the end of its stderr."""


def run_watched(
    commands: Sequence[Sequence[str]],
    log_dir: Path,
    timeout_s: float,
    stdin: bytes = b"",
    rescan_every: int = 1,
) -> Watched:
    """Start every command at once (stdin fed to each), wait for all, measure time and memory.

    stdout and stderr go to files in `log_dir` (gdcmconv writes a warning per file); a non-zero
    exit raises ToolFailed with the end of that command's output, and so does a run past
    `timeout_s` (its processes are killed), so one stuck tool cannot hold the benchmark.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    for number, argv in enumerate(commands):
        log = (log_dir / f"{Path(argv[0]).name}-{number}.log").open("wb")
        logs.append(log)
        processes.append(
            subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        )
    pids = [p.pid for p in processes]
    with PeakRss(lambda: pids, rescan_every) as peak:
        for process in processes:
            if process.stdin is not None:  # always, with stdin=PIPE
                process.stdin.write(stdin)
                process.stdin.close()
        deadline = time.monotonic() + timeout_s
        try:
            codes = [
                process.wait(timeout=max(0.0, deadline - time.monotonic())) for process in processes
            ]
        except subprocess.TimeoutExpired:
            for process in processes:
                process.kill()
                process.wait()
            raise ToolFailed(f"{commands[0][0]} took over {timeout_s:.0f} s: killed") from None
        finally:
            for log in logs:
                log.close()
    seconds = time.perf_counter() - started
    for number, (argv, code) in enumerate(zip(commands, codes, strict=True)):
        if code != 0:
            tail = (log_dir / f"{Path(argv[0]).name}-{number}.log").read_text(errors="replace")
            raise ToolFailed(f"{Path(argv[0]).name} exited {code}: {tail[-600:].strip()}")
    return Watched(seconds=seconds, peak_rss_bytes=peak.peak_bytes)
