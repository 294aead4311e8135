"""The memory guard, as its own real-time process: kills process groups when the machine's
MemAvailable falls under a floor.

    python watchdog.py FLOOR_BYTES      (stdin: one line of process group ids, then EOF to stop)

It prints `ready <how it is scheduled>` at start, and at the end one line `lowest <bytes>
tripped <unix time or 0> available <bytes at the trip or 0>`. It runs SCHED_FIFO when allowed
(root), else at the best nice it can get: among 3,000 runnable gdcmconv a thread of the bench
itself waits too long for its turn (the first full run fell 3 GB past the floor before its
guard thread, a normal thread of the bench, killed anything). Standalone, no imports of ours:
it must start fast and never wait on anything but its pipe.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

TICK_S = 0.02


def _available() -> int:
    with open("/proc/meminfo", "rb") as meminfo:
        for line in meminfo:
            if line.startswith(b"MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def _prioritise() -> str:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "SCHED_FIFO 10"
    except (OSError, AttributeError):
        pass
    try:
        return f"nice {os.nice(-20)}"
    except OSError:
        return "normal (no priority allowed)"


def main() -> int:
    floor = int(sys.argv[1])
    print(f"ready {_prioritise()}", flush=True)
    groups = [int(word) for word in sys.stdin.readline().split()]
    lowest, tripped, at_trip = _available(), 0.0, 0
    while True:
        readable, _, _ = select.select([sys.stdin], [], [], TICK_S)
        if readable and not sys.stdin.readline():
            break  # EOF: the run is over
        available = _available()
        lowest = min(lowest, available)
        if available < floor and not tripped:
            for group in groups:
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            tripped, at_trip = time.time(), available
    print(f"lowest {lowest} tripped {tripped} available {at_trip}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
