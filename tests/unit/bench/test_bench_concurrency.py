"""The concurrency bench's pure figures: percentiles, the table, and the queue's honesty."""

from __future__ import annotations

import math

from bench.concurrency.stats import (
    Contender,
    QueueSample,
    eta_error,
    percentile,
    position_error,
    render_table,
    start_error,
)


def _contender(name: str, done: list[float | None], p99: float | None = None) -> Contender:
    return Contender(
        name=name,
        jobs=len(done),
        slices_per_job=399,
        total_s=max((d for d in done if d is not None), default=0.0),
        job_done_s=done,
        first_slice_last_job_s=None if p99 is None else 12.5,
        idle_processes=29,
        peak_processes=31,
        idle_rss_bytes=1_900_000_000,
        peak_rss_bytes=2_100_000_000,
        peak_memory_taken_bytes=150_000_000,
        cpu_s=40.0,
        slices_done=399 * sum(d is not None for d in done),
        api_read_p99_ms=p99,
    )


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile(values[:3], 99) == 3.0
    assert percentile([7.0], 1) == 7.0
    assert math.isnan(percentile([], 99))


def test_a_job_that_never_finished_leaves_no_last_completion() -> None:
    whole = _contender("ours", [30.0, 10.0, 20.0])
    stopped = _contender("gdcmconv", [None, 10.0, 20.0])

    assert [whole.completion(w) for w in ("first", "median", "last")] == [10.0, 20.0, 30.0]
    assert [stopped.completion(w) for w in ("first", "median", "last")] == [10.0, 15.0, None]


def test_the_table_has_a_column_per_contender_and_says_what_did_not_finish() -> None:
    table = render_table([_contender("ours", [10.0, 20.0], p99=41.4), _contender("gdcm", [None])])
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}

    assert rows[""] == "|  | ours | gdcm |"
    assert rows["job completion, last"] == "| job completion, last | 20.0 s | did not finish |"
    assert rows["API read p99 (GET /jobs/{id})"].endswith("| 41 ms | - |")
    assert rows["CPU-seconds per study"] == "| CPU-seconds per study | 20.0 | 40.0 |"
    assert rows["peak process count (idle before)"].endswith("| 31 (29) | 31 (29) |")


def _sample(
    at: float,
    job: str,
    status: str = "queued",
    position: int | None = None,
    start: float | None = None,
    finish: float | None = None,
) -> QueueSample:
    return QueueSample(at, job, status, position, start, finish)


def test_eta_error_is_estimate_minus_actual_with_the_worst_signed() -> None:
    samples = [
        _sample(1.0, "a", finish=12.0),
        _sample(1.0, "b", finish=None),
        _sample(2.0, "a", "running", finish=10.5),
        _sample(2.0, "b", finish=14.0),
        _sample(2.0, "gone", finish=99.0),  # never finished: left out
    ]

    honesty = eta_error(samples, {"a": 10.0, "b": 20.0})

    assert (honesty.samples, honesty.without_figure) == (3, 1)
    assert honesty.median_abs == 2.0
    assert honesty.worst == -6.0
    assert "worst -6.0 s" in honesty.describe(" s")


def test_start_error_counts_queued_samples_only() -> None:
    samples = [
        _sample(1.0, "a", position=1, start=4.0),
        _sample(5.0, "a", "running", start=None),
    ]

    honesty = start_error(samples, {"a": 3.0})

    assert (honesty.samples, honesty.without_figure, honesty.worst) == (1, 0, 1.0)


def test_position_error_compares_with_the_real_start_order_of_that_answer() -> None:
    # one answer: c is said to be first but starts last; a and b each lose a place
    samples = [
        _sample(1.0, "a", position=2),
        _sample(1.0, "b", position=3),
        _sample(1.0, "c", position=1),
        _sample(3.0, "c", position=1),  # a later answer where c is alone: exact
    ]

    honesty = position_error(samples, {"a": 5.0, "b": 6.0, "c": 7.0})

    assert honesty.samples == 4
    assert honesty.worst == 2.0  # c: really 3rd, said 1st
    assert honesty.median_abs == 1.0


def test_no_figure_at_all_is_said_so() -> None:
    honesty = eta_error([_sample(1.0, "a")], {"a": 3.0})

    assert honesty.describe(" s") == "no sample gave a figure (1 samples without one)"
