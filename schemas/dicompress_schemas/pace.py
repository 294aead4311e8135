"""The recent pace of a job and its ETA, from the times its slice events occurred.

The pace is an exponential moving average of the gaps between consecutive slice events, so it
follows the recent rate (a slower node, a busy pool) rather than the whole job's average, and
one burst of results from a process pool does not swing it. Only event times are used, never
the clock, so a replay computes exactly what the live projection did.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

# Weight of the newest gap: about the last ten slices dominate.
SMOOTHING: Final = 0.2


def next_interval_ms(
    interval_ms: float | None, last_slice_at: datetime | None, now: datetime
) -> float | None:
    """The smoothed time per slice after a slice event at `now`.

    None until two slice events have been seen (one gives no gap). A gap that is negative (an
    event that occurred before the previous one) counts as zero rather than as time travel.
    """
    if last_slice_at is None:
        return interval_ms
    gap_ms = max(0.0, (now - last_slice_at).total_seconds() * 1000)
    if interval_ms is None:
        return gap_ms
    return (1 - SMOOTHING) * interval_ms + SMOOTHING * gap_ms


def eta(
    interval_ms: float | None, remaining: int | None, last_slice_at: datetime | None
) -> datetime | None:
    """When the remaining slices should be done at the recent pace, or None if unknown."""
    if interval_ms is None or remaining is None or last_slice_at is None:
        return None
    return last_slice_at + timedelta(milliseconds=interval_ms * max(0, remaining))
