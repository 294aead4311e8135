"""A terminal progress line: a job's '212/399 slices [#####.....] 45.1 slices/s, ETA 4 s,
ratio 9.8:1' (`show`, with the figures the server computed), or a transfer's
'84.0/200.3 MB [#####.....] 41.2 MB/s, ETA 3 s' (`update`, with the rate measured here)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

# (done, total, failed, rate per second, eta seconds, width) -> the line
Label = Callable[[int, int, int, float, float, int], str]


class ProgressBar:
    """Redraws one line in place on a terminal; prints a line per 10% elsewhere (CI logs)."""

    def __init__(
        self, stream: TextIO = sys.stderr, width: int = 30, label: Label | None = None
    ) -> None:
        self.stream = stream
        self.width = width
        self.label = label or render
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
        self.show(done, total, self.label(done, total, failed, rate, eta, self.width))

    def show(self, done: int, total: int, line: str) -> None:
        """Draw a line made elsewhere (a job's, from the server's figures: see `render`)."""
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


def render(
    done: int,
    total: int,
    failed: int,
    rate: float | None,
    eta: float | None,
    width: int = 30,
    ratio: float | None = None,
) -> str:
    """A job's line; `rate`, `eta` (s) and `ratio` as the server computed them, None unknown."""
    filled = (width * done) // total if total else width
    bar = "#" * filled + "." * (width - filled)
    rate_text = "?" if rate is None else f"{rate:.1f}"
    eta_text = "?" if eta is None or eta == float("inf") else f"{eta:.0f} s"
    ratio_text = "" if ratio is None else f", ratio {ratio:.1f}:1"
    fail_text = f", {failed} failed" if failed else ""
    return (
        f"{done}/{total} slices [{bar}] {rate_text} slices/s, ETA {eta_text}{ratio_text}{fail_text}"
    )


def render_bytes(
    done: int, total: int, failed: int, rate: float, eta: float, width: int = 30
) -> str:
    """The line of a transfer; `failed` counts retried requests."""
    filled = (width * done) // total if total else width
    bar = "#" * filled + "." * (width - filled)
    eta_text = f"{eta:.0f} s" if eta != float("inf") else "?"
    retry_text = f", {failed} retried" if failed else ""
    return (
        f"{done / 1e6:.1f}/{total / 1e6:.1f} MB [{bar}] {rate / 1e6:.1f} MB/s, "
        f"ETA {eta_text}{retry_text}"
    )
