"""The figures a person reads about a job: slices per second, ETA, compression ratio.

Computed here, once, from a job's projected state, and sent as they are: in `GET /jobs/{id}`,
in the notifier's snapshot and `figures` frames, in the SSE stream, and so shown by the viewer
and the CLI without recomputing. Two readers of the same job at the same seq therefore show
the same numbers (before, the viewer, the CLI and the API each had a formula of their own).

The inputs are columns of `jobs` (fields of `JobView`), which the fold derives from the events'
own times only, so a replay computes the same figures as the live projection did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Figures:
    """`slices_per_second`: the recent pace (items per second for a product); `eta_at`: when
    the remaining items should be done at that pace; both None when unknown or when the job is
    over. `ratio`: pixel bytes / codestream bytes, so far while the job runs (see
    `ratio_so_far`), the job's own exact figure once it completed; None without encoded
    slices (a thumbnails or snapshot product has none)."""

    slices_per_second: float | None
    eta_at: datetime | None
    ratio: float | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, snake_case (the frames' and the change feed's casing)."""
        return {
            "slices_per_second": self.slices_per_second,
            "eta_at": None if self.eta_at is None else self.eta_at.isoformat(),
            "ratio": self.ratio,
        }

    @classmethod
    def from_json(cls, raw: object) -> Figures | None:
        """What `as_json` wrote (as a frame carries it); None for anything else."""
        if not isinstance(raw, dict):
            return None
        try:
            eta = raw.get("eta_at")
            return cls(
                slices_per_second=_number(raw.get("slices_per_second")),
                eta_at=None if eta is None else datetime.fromisoformat(eta),
                ratio=_number(raw.get("ratio")),
            )
        except (TypeError, ValueError):
            return None

    def eta_s(self, now: datetime) -> float | None:
        """Seconds from `now` to `eta_at` (0 once it has passed); None when unknown."""
        if self.eta_at is None:
            return None
        return max(0.0, (self.eta_at - now).total_seconds())


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def of_row(
    *,
    terminal: bool,
    slice_interval_ms: float | None,
    eta_at: datetime | None,
    ratio: float | None,
    bytes_in: int | None,
    codestream_estimate: float | None,
) -> Figures:
    """The figures of a job's row (the arguments are its columns; `terminal`: its status is)."""
    return Figures(
        slices_per_second=None if terminal else slices_per_second(slice_interval_ms),
        eta_at=None if terminal else eta_at,
        ratio=ratio if ratio is not None else ratio_so_far(bytes_in, codestream_estimate),
    )


def slices_per_second(slice_interval_ms: float | None) -> float | None:
    """The pace as a rate; None before two items (no interval) or for a burst (interval 0)."""
    if slice_interval_ms is None or slice_interval_ms <= 0:
        return None
    return 1000.0 / slice_interval_ms


def codestream_share(bytes_in: int, ratio: float) -> float:
    """One encoded slice's contribution to `codestream_estimate`: its source size over its
    measured ratio, i.e. its codestream bytes if pixel bytes are proportional to file sizes
    (they are within a series: same rows, columns and bits)."""
    return bytes_in / ratio


def ratio_so_far(bytes_in: int | None, codestream_estimate: float | None) -> float | None:
    """Pixel bytes / codestream bytes over the slices encoded so far, each weighted by its
    size: the size-weighted harmonic mean of their ratios, which is exactly the whole job's
    ratio when the slices are of one size (the compressor's final figure is the same quotient
    over exact pixel and codestream bytes)."""
    if not bytes_in or not codestream_estimate:
        return None
    return bytes_in / codestream_estimate
