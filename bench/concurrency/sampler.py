"""Process count, memory and CPU of a set of process trees, sampled every 100 ms.

One sample reads /proc/<pid>/stat of every process once (parent, CPU ticks and RSS in one
read), so a tree of 4,000 gdcmconv costs one pass, not one walk of /proc per root as psutil's
`children(recursive=True)` would. The CPU of every member ever seen (its own user + system, the
last value sampled) is a lower bound of the trees' CPU, for runs killed before their processes
were reaped (whose time RUSAGE_CHILDREN never sees). The memory guard is watchdog.py, a process
of its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.1


def mem_available() -> int:
    """The kernel's estimate of memory available for new work, in bytes."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def machine_busy_s() -> float:
    """CPU-seconds the whole machine has been busy (all cores; /proc/stat minus idle, iowait)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def process_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, RSS bytes, user + system CPU ticks) of every process now."""
    table: dict[int, tuple[int, int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:  # gone between the listing and the read
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()  # after "(comm)": state, ppid, ...
        table[int(name)] = (
            int(fields[1]),
            int(fields[21]) * PAGE,
            int(fields[11]) + int(fields[12]),
        )
    return table


def tree(table: dict[int, tuple[int, int, int]], roots: Sequence[int]) -> list[int]:
    """`roots` (those alive) and all their descendants in `table`."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root for root in roots if root in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return sorted(found)


@dataclass(frozen=True)
class Sample:
    processes: int
    rss_bytes: int


def sample(roots: Sequence[int]) -> Sample:
    table = process_table()
    members = tree(table, roots)
    return Sample(len(members), sum(table[pid][1] for pid in members))


class Sampler:
    """Context manager: samples the trees of `roots()` every 100 ms and keeps the peaks, the
    lowest MemAvailable, each member's CPU, and the machine's busy CPU over the run."""

    def __init__(self, roots: Callable[[], Sequence[int]]) -> None:
        self._roots = roots
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="sampler", daemon=True)
        self.available_at_start = mem_available()
        self.peak_processes = 0
        self.peak_rss_bytes = 0
        self.lowest_available = self.available_at_start
        self.samples = 0
        self.sampler_cpu_s = 0.0
        self._cpu_ticks: dict[int, int] = {}
        self._busy_at_start = machine_busy_s()
        self.machine_busy_s = 0.0

    @property
    def peak_taken_bytes(self) -> int:
        return max(0, self.available_at_start - self.lowest_available)

    @property
    def sampled_cpu_s(self) -> float:
        """The members' own CPU as last sampled: a lower bound (the last 100 ms of each member
        and members that lived between two samples are missed; pid reuse is ignored)."""
        return sum(self._cpu_ticks.values()) / TICK

    def _sample(self) -> None:
        started = time.thread_time()
        while True:
            table = process_table()
            members = tree(table, self._roots())
            self.samples += 1
            self.peak_processes = max(self.peak_processes, len(members))
            self.peak_rss_bytes = max(self.peak_rss_bytes, sum(table[p][1] for p in members))
            for pid in members:
                self._cpu_ticks[pid] = max(self._cpu_ticks.get(pid, 0), table[pid][2])
            self.lowest_available = min(self.lowest_available, mem_available())
            self.sampler_cpu_s = time.thread_time() - started
            if self._stop.wait(SAMPLE_S):
                return

    def __enter__(self) -> Sampler:
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
        self.machine_busy_s = machine_busy_s() - self._busy_at_start
