"""The bench's tables and the model's check and predictions, as markdown."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.split.job import JobRun
from bench.split.model import Fit, busiest

PREDICT_FOR = (1, 2, 10, 100)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ranges(run: JobRun) -> str:
    if not run.spread:
        return "not spread"
    made = [f"{name} {len(firsts)}" for name, firsts in sorted(run.ranges.items())]
    return ", ".join(made)


def _compressor_cpu(run: JobRun) -> str:
    return ", ".join(
        f"{name} {seconds:.1f}"
        for name, seconds in sorted(run.cpu.items())
        if name.startswith("compressor")
    )


def timelines(runs: Sequence[JobRun]) -> list[str]:
    """When each range of a spread run was done (its marker seen), by whom, from JobStarted:
    a worker left idle while another still has ranges waiting shows here."""
    lines = []
    for r in runs:
        if not r.spread or not r.range_done_s:
            continue
        by = {first: name for name, firsts in r.ranges.items() for first in firsts}
        done = ", ".join(f"{f} {by.get(f, '?')} {at:.1f}" for f, at in r.range_done_s.items())
        lines.append(f"- {r.label} run {r.number}: {done}")
    return lines


def runs_table(runs: Sequence[JobRun]) -> list[str]:
    lines = [
        "| configuration | run | status | 202 -> terminal (client) | requested -> finished "
        "(events) | job wallMs | fixed | encode | assembly (tail) | encoder ms/slice | owner "
        "| ranges made by | compressor CPU-s | stack CPU-s | load at submit |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---|",
    ]
    for r in runs:
        wall = None if r.wall_ms is None else r.wall_ms / 1000
        lines.append(
            f"| {r.label} | {r.number} | {r.status} | {r.client_s:.2f} | {_s(r.events_s)} | "
            f"{_s(wall)} | {_s(r.fixed_s)} | {_s(r.encode_s)} | {_s(r.tail_s)} | "
            f"{_s(r.encode_ms_per_slice)} | {r.owner} | {_ranges(r)} | {_compressor_cpu(r)} "
            f"| {sum(r.cpu.values()):.1f} | {r.load} |"
        )
    return lines


def median_of(runs: Sequence[JobRun], figure: str) -> float | None:
    values = [getattr(r, figure) for r in runs if getattr(r, figure) is not None]
    return statistics.median(values) if values else None


def medians_table(by_label: dict[str, list[JobRun]]) -> list[str]:
    lines = [
        "| configuration | runs | 202 -> terminal | requested -> finished | job wallMs | fixed "
        "| encode | assembly (tail) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs in by_label.items():
        wall = median_of(runs, "wall_ms")
        lines.append(
            f"| {label} | {len(runs)} | {_s(median_of(runs, 'client_s'))} | "
            f"{_s(median_of(runs, 'events_s'))} | {_s(None if wall is None else wall / 1000)} | "
            f"{_s(median_of(runs, 'fixed_s'))} | {_s(median_of(runs, 'encode_s'))} | "
            f"{_s(median_of(runs, 'tail_s'))} |"
        )
    return lines


def _error(predicted: float, measured: float) -> str:
    return f"{(predicted - measured) / measured * 100:+.0f}%"


def model_section(fit: Fit, two: Sequence[JobRun], cores: int) -> list[str]:
    """The fitted parts, the check against the 2-worker runs, the predictions, and what this
    machine's `cores` allow whatever the model says."""
    n, t = fit.slices, fit.t_slice_s
    lines = [
        f"Fitted on the 1-worker runs with splitting on (medians): fixed = {fit.fixed_s:.2f} s, "
        f"t_slice = {t * 1000:.1f} ms ({n} slices in {n * t:.2f} s on one core), assembly = "
        f"{fit.assembly_s:.2f} s"
        + (
            ""
            if fit.fetch_per_slice_s is None
            else f"; the bench's fetch of every stored slice, 16 at once: "
            f"{fit.fetch_per_slice_s * n:.2f} s ({fit.fetch_per_slice_s * 1000:.1f} ms/slice)"
        )
        + ".",
        "",
    ]
    measured = median_of(two, "events_s")
    if measured is not None:
        simple = fit.simple(2)
        ranged = fit.ranged(2)
        own = statistics.median(fit.ranged(2, busiest(r, fit.size)) for r in two)
        lines += [
            f"Check at W = 2 (measured: requested -> finished, median of {len(two)}: "
            f"{measured:.2f} s; 202 -> terminal {_s(median_of(two, 'client_s'))} s):",
            "",
            "| model | predicted | error |",
            "|---|---:|---:|",
            f"| simple: fixed + N x t_slice / 2 + assembly | {simple:.2f} s | "
            f"{_error(simple, measured)} |",
            f"| ranges of {fit.size} dealt over {fit.partitions} partitions in turn (busiest "
            f"worker: {fit.expected_busiest(2):.0f} slices) | {ranged:.2f} s | "
            f"{_error(ranged, measured)} |",
            f"| ranges as each measured run dealt them (busiest worker: "
            f"{', '.join(str(busiest(r, fit.size)) for r in two)} slices) | {own:.2f} s | "
            f"{_error(own, measured)} |",
            "",
        ]
    lines += [
        "| W workers | simple | ranged (expected busiest worker) | busiest worker's slices |",
        "|---:|---:|---:|---:|",
    ]
    for w in PREDICT_FOR:
        lines.append(
            f"| {w} | {fit.simple(w):.2f} s | {fit.ranged(w):.2f} s | "
            f"{fit.expected_busiest(w):.0f} |"
        )
    floor = fit.ranged(10_000, fit.size)
    lines += [
        f"| unbounded | {fit.serial_s:.2f} s (fixed + assembly) | {floor:.2f} s (one range "
        f"of {fit.size} each) | {fit.size} |",
        "",
        f"Amdahl: of one worker's {fit.simple(1):.2f} s, {fit.serial_s:.2f} s "
        f"({fit.serial_s / fit.simple(1) * 100:.0f}%) are the owner's alone (fixed + "
        f"assembly), so the simple model's speed-up can never pass "
        f"{fit.simple(1) / fit.serial_s:.1f}x; with ranges of {fit.size} the encode term "
        f"stops at one range ({fit.size * t:.2f} s) once there are as many workers as ranges, "
        f"and the floor is {floor:.2f} s ({fit.simple(1) / floor:.1f}x).",
    ]
    if fit.cpu_s is not None:
        lines += [
            "",
            f"This machine: a 1-worker job used {fit.cpu_s:.1f} CPU-s of the whole stack "
            f"(median), so on its {cores} cores no number of workers can finish one under "
            f"{fit.cpu_s / cores:.1f} s; the model's one free core per worker holds only "
            "where the workers are other machines.",
        ]
    return lines
