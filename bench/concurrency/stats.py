"""Pure figures of the concurrency bench: percentiles, the side-by-side table, and how honest the
queue positions and ETAs of `GET /queue` were (issue 18 item 4). No I/O: unit-tested."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MB = 1e6


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank p-th percentile (0 < p <= 100): the smallest value with at least p% of
    the values at or below it; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Contender:
    """One way of doing the 10 jobs and what it took. Seconds count from the burst's start (the
    first submission, or the first process started); a job that never finished is None."""

    name: str
    jobs: int
    slices_per_job: int
    total_s: float
    job_done_s: Sequence[float | None]
    first_slice_last_job_s: float | None
    idle_processes: int
    peak_processes: int
    idle_rss_bytes: int
    peak_rss_bytes: int
    peak_memory_taken_bytes: int  # the largest fall of the machine's MemAvailable
    cpu_s: float
    slices_done: int
    api_read_p99_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    cpu_lower_bound: bool = False  # sampled, not counted exactly (a run killed mid-way)
    machine_busy_s: float = math.nan  # CPU-seconds the whole machine was busy over the run
    bench_cpu_s: float = 0.0  # the bench's own (sampler, polling client) over the run
    # the share of cpu_s spent on the jobs' studies (ours: less the interactive probe's slices)
    study_cpu_share: float = 1.0
    # ours: the interactive job sent behind the batch, queued -> started and -> ended
    interactive_wait_s: float | None = None
    interactive_turnaround_s: float | None = None

    @property
    def cpu_per_study_s(self) -> float:
        return self.cpu_s * self.study_cpu_share / self.jobs

    @property
    def others_cpu_s(self) -> float:
        """CPU-seconds of everything else on the machine over the run (other people's work)."""
        return max(0.0, self.machine_busy_s - self.cpu_s - self.bench_cpu_s)

    @property
    def finished(self) -> list[float]:
        return sorted(s for s in self.job_done_s if s is not None)

    def completion(self, which: str) -> float | None:
        """'first', 'median' or 'last' completion; 'last' is None unless every job finished."""
        done = self.finished
        if not done or (which == "last" and len(done) < len(self.job_done_s)):
            return None
        return {"first": done[0], "median": statistics.median(done), "last": done[-1]}[which]


def _s(value: float | None) -> str:
    return "did not finish" if value is None or math.isnan(value) else f"{value:.1f} s"


def _row(label: str, cells: Sequence[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def render_table(contenders: Sequence[Contender]) -> str:
    """The side-by-side markdown table, one column per contender."""
    lines = [
        _row("", [c.name for c in contenders]),
        "|---|" + "---:|" * len(contenders),
        _row("jobs x slices", [f"{c.jobs} x {c.slices_per_job}" for c in contenders]),
        _row(
            "slices written",
            [f"{c.slices_done} / {c.jobs * c.slices_per_job}" for c in contenders],
        ),
        _row("total time", [_s(c.total_s) for c in contenders]),
    ]
    for which in ("first", "median", "last"):
        lines.append(
            _row(f"job completion, {which}", [_s(c.completion(which)) for c in contenders])
        )
    lines.append(
        _row(
            "first slice of the last-submitted job",
            [_s(c.first_slice_last_job_s) for c in contenders],
        )
    )
    if any(c.interactive_wait_s is not None for c in contenders):
        lines.append(
            _row(
                "interactive job behind the batch: started / ended, after it was queued",
                [
                    "-"
                    if c.interactive_wait_s is None
                    else f"{c.interactive_wait_s:.2f} s / {_s(c.interactive_turnaround_s)}"
                    for c in contenders
                ],
            )
        )
    lines += [
        _row(
            "peak process count (idle before)",
            [f"{c.peak_processes} ({c.idle_processes})" for c in contenders],
        ),
        _row(
            "peak memory, summed RSS (idle before)",
            [f"{c.peak_rss_bytes / MB:,.0f} MB ({c.idle_rss_bytes / MB:,.0f})" for c in contenders],
        ),
        _row(
            "peak memory taken from the machine (MemAvailable fall)",
            [f"{c.peak_memory_taken_bytes / MB:,.0f} MB" for c in contenders],
        ),
        _row(
            "API read p99 (GET /jobs/{id})",
            [
                "-" if c.api_read_p99_ms is None else f"{c.api_read_p99_ms:.0f} ms"
                for c in contenders
            ],
        ),
        _row(
            "CPU-seconds per study",
            [f"{'>= ' if c.cpu_lower_bound else ''}{c.cpu_per_study_s:.1f}" for c in contenders],
        ),
        _row(
            "mean cores busy: this / everything else on the machine",
            [
                f"{c.cpu_s / c.total_s:.2f} / {c.others_cpu_s / c.total_s:.2f}"
                if c.total_s > 0 and not math.isnan(c.machine_busy_s)
                else "-"
                for c in contenders
            ],
        ),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class QueueSample:
    """One job as one `GET /queue` answer showed it; times are seconds from the burst's start."""

    at: float
    job_id: str
    status: str
    position: int | None
    estimated_start: float | None
    estimated_finish: float | None
    lane: str | None = None  # the API's `lane` of the entry (None before lanes existed)


@dataclass(frozen=True)
class Honesty:
    """Errors over every sample that gave a figure: median and worst of the absolute error,
    with the worst one's sign (positive: the estimate was late, i.e. too pessimistic)."""

    samples: int
    without_figure: int
    median_abs: float
    worst: float

    def describe(self, unit: str) -> str:
        if not self.samples:
            return f"no sample gave a figure ({self.without_figure} samples without one)"
        return (
            f"median |error| {self.median_abs:.1f}{unit}, worst {self.worst:+.1f}{unit} over "
            f"{self.samples} samples ({self.without_figure} without a figure)"
        )


def _honesty(errors: Sequence[float], without: int) -> Honesty:
    if not errors:
        return Honesty(0, without, math.nan, math.nan)
    worst = max(errors, key=abs)
    return Honesty(len(errors), without, statistics.median(abs(e) for e in errors), worst)


def eta_error(samples: Sequence[QueueSample], finished: Mapping[str, float]) -> Honesty:
    """Estimated finish minus actual finish, over every sample of a job that finished."""
    errors, without = [], 0
    for sample in samples:
        actual = finished.get(sample.job_id)
        if actual is None:
            continue
        if sample.estimated_finish is None:
            without += 1
        else:
            errors.append(sample.estimated_finish - actual)
    return _honesty(errors, without)


def start_error(samples: Sequence[QueueSample], started: Mapping[str, float]) -> Honesty:
    """Estimated start minus actual start, over every sample of a queued job that started."""
    errors, without = [], 0
    for sample in samples:
        actual = started.get(sample.job_id)
        if sample.status != "queued" or actual is None:
            continue
        if sample.estimated_start is None:
            without += 1
        else:
            errors.append(sample.estimated_start - actual)
    return _honesty(errors, without)


def position_error(samples: Sequence[QueueSample], started: Mapping[str, float]) -> Honesty:
    """For each queued job in an answer: its real place among the jobs queued in that same
    answer (1 + how many of them started before it) minus the position the API gave. Jobs that
    never started are left out."""
    errors, without = [], 0
    answers: dict[float, list[QueueSample]] = {}
    for sample in samples:
        if sample.status == "queued":
            answers.setdefault(sample.at, []).append(sample)
    for queued in answers.values():
        for sample in queued:
            mine = started.get(sample.job_id)
            if mine is None:
                continue
            if sample.position is None:
                without += 1
                continue
            before = sum(
                1
                for other in queued
                if other.job_id != sample.job_id
                and (other_start := started.get(other.job_id)) is not None
                and other_start < mine
            )
            errors.append(float(1 + before - sample.position))
    return _honesty(errors, without)
