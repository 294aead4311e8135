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

import psutil


def _processes() -> list[psutil.Process]:
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _cpu_by_pid() -> dict[int, float]:
    found = {}
    for process in _processes():
        with contextlib.suppress(psutil.Error):  # a child may have just exited
            times = process.cpu_times()
            found[process.pid] = times.user + times.system
    return found


def _rss() -> int:
    total = 0
    for process in _processes():
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
        self._sampler: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResourceMeter:
        self._cpu_at_start = _cpu_by_pid()
        self.peak_rss_bytes = _rss()
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
        self.sample()
        # a process born during the job counts from 0; one that died takes its CPU with it
        now = _cpu_by_pid()
        self.cpu_s = sum(
            max(0.0, cpu - self._cpu_at_start.get(pid, 0.0)) for pid, cpu in now.items()
        )
        return self.cpu_s, self.peak_rss_bytes

    def sample(self) -> None:
        self.peak_rss_bytes = max(self.peak_rss_bytes, _rss())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample()
