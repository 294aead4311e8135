"""A terminal progress line: '212/399 slices [#####.....] 45.1 slices/s, ETA 4 s'."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws one line in place on a terminal; prints a line per 10% elsewhere (CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.started: float | None = None
        self._last_decile = -1

    def update(
        self, done: int, total: int, failed: int = 0, elapsed_s: float | None = None
    ) -> None:
        """Draw `done` of `total`; the rate is over `elapsed_s` when given (e.g. by the events'
        own times), else over the time since the first update."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        elapsed = max(now - self.started if elapsed_s is None else elapsed_s, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("inf")
        line = render(done, total, failed, rate, eta, self.width)
        if self.tty:
            self.stream.write("\r" + line + " " * 4)
        else:
            decile = (10 * done) // total if total else 10
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def render(done: int, total: int, failed: int, rate: float, eta: float, width: int = 30) -> str:
    filled = (width * done) // total if total else width
    bar = "#" * filled + "." * (width - filled)
    eta_text = f"{eta:.0f} s" if eta != float("inf") else "?"
    fail_text = f", {failed} failed" if failed else ""
    return f"{done}/{total} slices [{bar}] {rate:.1f} slices/s, ETA {eta_text}{fail_text}"
