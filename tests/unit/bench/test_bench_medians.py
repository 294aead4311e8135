"""The comparison benchmark's reduction of repeated runs to one row per measurement."""

from __future__ import annotations

from bench.compare.report import Row, medians


def _row(tool: str, seconds: float, peak: int, note: str = "", skipped: str = "") -> Row:
    return Row(tool, "j2k-lossy", 100.0, 2, seconds, None, peak, 399, skipped, note)


def test_each_measurement_keeps_its_median_run_with_the_spread_and_the_highest_peak() -> None:
    runs = [
        [_row("gdcmconv", 14.0, 10), _row("ours", 12.5, 300, note="sampled")],
        [_row("gdcmconv", 13.0, 30), _row("ours", 11.0, 320, note="sampled")],
        [_row("gdcmconv", 15.5, 20), _row("ours", 13.0, 310, note="sampled")],
    ]

    merged = medians(runs)

    assert [(r.tool, r.seconds, r.peak_rss_bytes) for r in merged] == [
        ("gdcmconv", 14.0, 30),
        ("ours", 12.5, 320),
    ]
    assert merged[0].note == "median of 3 runs (13.00-15.50 s)"
    assert merged[1].note == "median of 3 runs (11.00-13.00 s); sampled"


def test_skipped_runs_are_left_out_and_a_never_measured_row_stays_skipped() -> None:
    runs = [
        [_row("dcmjs", 0.0, 0, skipped="failed: timeout"), _row("ours", 9.0, 1)],
        [_row("dcmjs", 12.0, 5), _row("ours", 0.0, 0, skipped="no npm")],
    ]
    lone = [[_row("gdcmconv", 0.0, 0, skipped="not installed")]] * 2

    merged = medians(runs) + medians(lone)

    assert [(r.tool, r.seconds, r.skipped) for r in merged] == [
        ("dcmjs", 12.0, ""),
        ("ours", 9.0, ""),
        ("gdcmconv", 0.0, "not installed"),
    ]
    assert merged[0].note == "median of 1 run (12.00-12.00 s)"


def test_of_an_even_number_of_runs_the_slower_middle_one_is_reported() -> None:
    runs = [[_row("ours", 12.0, 1)], [_row("ours", 14.0, 1)]]

    assert medians(runs)[0].seconds == 14.0


def test_a_single_run_is_returned_as_it_is() -> None:
    run = [_row("ours", 10.0, 1, note="sampled")]

    assert medians([run]) == run
