"""The figures of one upload's products, as markdown rows: seconds from the upload's completion
answer to each thing a viewer waits for, beside issue 13's targets, the worker's own wall
time and the items made."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.products.follow import Followed, ProductSeen

# issue 13, "Done when": seconds from upload complete
TARGETS = {"first thumbnail": 1.0, "preview": 4.0, "snapshots": 3.0}
HEADER = (
    "| measure | s after upload complete | target | by the events' times: started -> ended "
    "| worker wallMs (download / work / upload) | items done / total (failed) | status |\n"
    "|---|---:|---|---:|---:|---|---|"
)


@dataclass(frozen=True)
class Measure:
    """One row: `key` names it across runs (for the medians)."""

    key: str
    label: str
    seconds: float | None
    target: float | None = None
    event_started: float | None = None  # from the projection's startedAt, not the polling
    event_seconds: float | None = None  # from the projection's finishedAt, not the polling
    wall_ms: float | None = None
    phases_ms: tuple[float | None, float | None, float | None] | None = None
    items: str = ""
    status: str = ""


def _after(at: float | None, start: float) -> float | None:
    return None if at is None else at - start


def _event_after(at: datetime | None, start_wall: float) -> float | None:
    return None if at is None else at.timestamp() - start_wall


def _items(product: ProductSeen) -> str:
    counts = product.items
    return (
        f"{counts.get('done', 0)} / {counts.get('total', '?')} ({counts.get('failed', 0)})"
        if counts
        else ""
    )


def _product_row(
    key: str, label: str, product: ProductSeen | None, start: float, start_wall: float
) -> Measure:
    if product is None:
        return Measure(key, label, None, TARGETS.get(key), status="never listed")
    phases = tuple(product.timings.get(f"{p}Ms") for p in ("download", "encode", "upload"))
    return Measure(
        key,
        label,
        _after(product.ended_at, start),
        TARGETS.get(key),
        _event_after(product.event_time("startedAt"), start_wall),
        _event_after(product.event_time("finishedAt"), start_wall),
        product.wall_ms,
        (phases[0], phases[1], phases[2]) if any(v is not None for v in phases) else None,
        _items(product),
        product.status + (f": {product.last.get('reason')}" if product.last.get("reason") else ""),
    )


def _image_row(
    key: str, label: str, product: ProductSeen | None, start: float, note: str = ""
) -> Measure:
    if product is None or product.first_image_served_at is None:
        return Measure(key, label, None, TARGETS.get(key), status="no image served")
    return Measure(
        key,
        f"{label} ({product.first_image}{note})",
        _after(product.first_image_served_at, start),
        TARGETS.get(key),
        status=f"listed at {product.first_image_listed_at - start:.2f} s"
        if product.first_image_listed_at is not None
        else "",
    )


def series_measures(
    kinds: Mapping[str, ProductSeen],
    followed: Followed,
    start: float,
    start_wall: float,
    indexed_at: float,
) -> list[Measure]:
    """The rows of one series' products; `start` is the upload's completion (perf_counter),
    `start_wall` the same instant by the wall clock."""
    preview, thumbnails, snapshot = (kinds.get(k) for k in ("preview", "thumbnails", "snapshot"))
    listed = min((p.listed_at for p in kinds.values()), default=None)
    params = preview.params if preview else {}
    preview_label = (
        f"preview complete ({params.get('bin_xy', '?')}x{params.get('bin_xy', '?')} binned, "
        f"bin_z {params.get('bin_z', '?')}, rate {params.get('rate', '?')}, "
        f"{params.get('codec', '?')})"
    )
    fallbacks = sorted(
        {i["fallback"] for i in snapshot.images if i.get("fallback")} if snapshot else set()
    )
    snap_label = (
        "3D snapshots complete ("
        + (
            ", ".join(sorted({f"{i['preset']} {i['size']}" for i in snapshot.images}))
            if snapshot and snapshot.images
            else "no image"
        )
        + (f"; fallback: {'; '.join(fallbacks)}" if fallbacks else "")
        + ")"
    )
    return [
        Measure("ingest", "ingest complete (GET /ingests/{id} completed)", indexed_at - start),
        Measure("listed", "products listed (first GET naming one)", _after(listed, start)),
        _image_row("first thumbnail", "first thumbnail served", thumbnails, start),
        _product_row("thumbnails", "thumbnails complete", thumbnails, start, start_wall),
        _product_row("preview", preview_label, preview, start, start_wall),
        _image_row("first snapshot", "first 3D snapshot served", snapshot, start),
        _product_row("snapshots", snap_label, snapshot, start, start_wall),
    ]


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _target(row: Measure) -> str:
    if row.target is None:
        return ""
    if row.seconds is None:
        return f"< {row.target:g} s"
    verdict = "met" if row.seconds < row.target else "MISSED"
    return f"< {row.target:g} s: {verdict}"


def _events(row: Measure) -> str:
    if row.event_started is None and row.event_seconds is None:
        return "-"
    return f"{_s(row.event_started)} -> {_s(row.event_seconds)}"


def _wall(row: Measure) -> str:
    if row.wall_ms is None:
        return "-"
    if row.phases_ms is None:
        return _s(row.wall_ms, 0)
    return f"{_s(row.wall_ms, 0)} ({' / '.join(_s(v, 0) for v in row.phases_ms)})"


def render_rows(rows: Sequence[Measure]) -> str:
    lines = [HEADER]
    for row in rows:
        lines.append(
            f"| {row.label} | {_s(row.seconds)} | {_target(row)} | {_events(row)} | "
            f"{_wall(row)} | {row.items} | {row.status} |"
        )
    return "\n".join(lines)


def render_medians(runs: Sequence[Sequence[Measure]]) -> str:
    """Median, min and max over runs of each row's seconds (by key, in the first run's order)."""
    lines = [
        "| measure | median s | min | max | target | median worker wallMs |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for first in runs[0]:
        rows = [row for run in runs for row in run if row.key == first.key]
        seconds = [r.seconds for r in rows if r.seconds is not None]
        walls = [r.wall_ms for r in rows if r.wall_ms is not None]
        median = statistics.median(seconds) if seconds else None
        lines.append(
            f"| {first.key} ({len(seconds)} of {len(rows)} runs) | {_s(median)} | "
            f"{_s(min(seconds) if seconds else None)} | {_s(max(seconds) if seconds else None)} | "
            f"{_target(Measure(first.key, '', median, first.target))} | "
            f"{_s(statistics.median(walls) if walls else None, 0)} |"
        )
    return "\n".join(lines)
