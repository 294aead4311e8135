"""CPU time and peak memory of one job: the worker process and its encoder processes.

The pool processes live across jobs, so `RUSAGE_CHILDREN` (which counts reaped children only)
would miss them: CPU is the change in psutil's cpu_times of the worker and every child between
the job's start and end. Peak RSS is sampled (the sum over the processes, every
`interval_s`) while the job runs, since the kernel's own high-water marks span the processes'
whole lives, not one job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import psutil

# Finding the children scans every process on the machine (/proc/*/stat): measured at ~8% of
# the worker's CPU when done at each sample on a busy machine. The pool's processes live
# across jobs, so the list is refreshed only this often (and at a job's start and end).
_FAMILY_REFRESH_S = 5.0


class _Family:
    """This process and its descendants, with the child list cached for `_FAMILY_REFRESH_S`."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self._children: list[psutil.Process] = []
        self._found_at = -_FAMILY_REFRESH_S

    def processes(self, fresh: bool = False) -> list[psutil.Process]:
        now = time.monotonic()
        if fresh or now - self._found_at >= _FAMILY_REFRESH_S:
            with contextlib.suppress(psutil.Error):
                self._children = self._me.children(recursive=True)
                self._found_at = now
        return [self._me, *self._children]

    def cpu_by_pid(self) -> dict[int, float]:
        found = {}
        for process in self.processes(fresh=True):
            with contextlib.suppress(psutil.Error):  # a child may have just exited
                times = process.cpu_times()
                found[process.pid] = times.user + times.system
        return found

    def rss(self) -> int:
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total


class ResourceMeter:
    """`async with ResourceMeter() as meter:` ... then `meter.cpu_s` and `meter.peak_rss_bytes`."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.cpu_s = 0.0
        self.peak_rss_bytes = 0
        self._cpu_at_start: dict[int, float] = {}
        self._family = _Family()
        self._sampler: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResourceMeter:
        self._cpu_at_start = self._family.cpu_by_pid()
        self.peak_rss_bytes = self._family.rss()
        self._sampler = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        self.measure()

    def measure(self) -> tuple[float, int]:
        """(CPU seconds since the start, peak RSS so far): what JobCompleted reports."""
        # a process born during the job counts from 0; one that died takes its CPU with it
        now = self._family.cpu_by_pid()  # refreshes the family, so sample() sees the newborn
        self.sample()
        self.cpu_s = sum(
            max(0.0, cpu - self._cpu_at_start.get(pid, 0.0)) for pid, cpu in now.items()
        )
        return self.cpu_s, self.peak_rss_bytes

    def sample(self) -> None:
        self.peak_rss_bytes = max(self.peak_rss_bytes, self._family.rss())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample()
