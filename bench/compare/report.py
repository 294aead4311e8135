"""One row per (tool, codec, rate, workers) and the markdown table they make."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.compare.quality import Quality


@dataclass(frozen=True)
class Row:
    """A measured run, or a skipped one (`skipped` says why)."""

    tool: str
    codec: str
    rate: float
    workers: int
    seconds: float = math.nan
    quality: Quality | None = None
    peak_rss_bytes: int = 0
    expected_slices: int = 0
    skipped: str = ""
    note: str = ""


def medians(runs: Sequence[Sequence[Row]]) -> list[Row]:
    """One row per (tool, codec, rate, workers) over repeated runs: the run with the median
    seconds (of an even number, the slower of the middle two), its note saying the spread, and
    the highest peak RSS of any run. A key measured in no run keeps its first skipped row. Rows
    come out in the first run's order."""
    if len(runs) == 1:
        return list(runs[0])
    keyed: dict[tuple[str, str, float, int], list[Row]] = {}
    for run in runs:
        for row in run:
            keyed.setdefault((row.tool, row.codec, row.rate, row.workers), []).append(row)
    merged = []
    for tries in keyed.values():
        measured = sorted((r for r in tries if not r.skipped), key=lambda r: r.seconds)
        if not measured:
            merged.append(tries[0])
            continue
        middle = measured[len(measured) // 2]
        low, high = measured[0].seconds, measured[-1].seconds
        runs_word = "run" if len(measured) == 1 else "runs"
        spread = f"median of {len(measured)} {runs_word} ({low:.2f}-{high:.2f} s)"
        merged.append(
            replace(
                middle,
                peak_rss_bytes=max(r.peak_rss_bytes for r in measured),
                note="; ".join(part for part in (spread, middle.note) if part),
            )
        )
    return merged


HEADER = (
    "| tool | codec | rate | workers | seconds | slices/s | slices ok | ratio | PSNR dB "
    "| peak RSS MB | private tags kept | note |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def _number(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def render_row(row: Row) -> str:
    head = f"| {row.tool} | {row.codec} | {row.rate:g} | {row.workers} "
    if row.skipped:
        return head + f"| - | - | - | - | - | - | - | skipped: {row.skipped} |"
    quality = row.quality
    ok = f"{quality.slices}/{row.expected_slices}" if quality else "-"
    speed = row.expected_slices / row.seconds if row.seconds > 0 else math.nan
    notes = [row.note] if row.note else []
    if quality and quality.bits_stored_changed:
        notes.append(f"BitsStored changed in {quality.bits_stored_changed} outputs")
    if quality and quality.problems:
        notes.append(f"{len(quality.problems)} bad output(s), first: {quality.problems[0]}")
    note = "; ".join(notes)
    return (
        head
        + f"| {_number(row.seconds, 2)} | {_number(speed, 1)} | {ok} "
        + f"| {_number(quality.ratio if quality else math.nan, 1)} "
        + f"| {_number(quality.mean_psnr if quality else math.nan, 2)} "
        + f"| {row.peak_rss_bytes / 1e6:.0f} | {quality.private_kept if quality else '-'} "
        + f"| {note.replace('|', '/')} |"
    )


def render_table(rows: Sequence[Row]) -> str:
    return "\n".join([HEADER, *(render_row(row) for row in rows)])


def render_report(
    title: str, intro: Sequence[str], rows: Sequence[Row], verdicts: Sequence[str]
) -> str:
    """The results file: title, how it was run, the table, how to read it, the targets."""
    return "\n".join(
        [
            f"# {title}",
            "",
            *intro,
            "",
            render_table(rows),
            "",
            "Ratio: pixel bytes at BitsAllocated / codestream bytes, over the series. PSNR: mean "
            "over slices against the originals, peak 2^BitsStored - 1 of the original. Peak RSS: "
            "largest summed RSS of the tool's processes, sampled every 20 ms (bench/README.md).",
            "",
            "## Targets (issue 3)",
            "",
            *(f"- {line}" for line in verdicts),
            "",
        ]
    )
