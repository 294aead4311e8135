"""A job's state: fold its events, in whatever order they arrive, into one `JobView`.

Part of the contract because more than one service knows it: the progress service projects the
`jobs` rows with it, and the API folds a job's recorded events with it to answer "the state as of
time T" (one copy, so the past state is computed exactly as the live one was).

`CompressionRequested` (requests topic) and the later events (events topic) are consumed
independently, so either may come first. The fold is built to tolerate that:

- any event may create the view; the request fields are filled whenever the request arrives;
- status only moves forward (queued < running < terminal) and a terminal status is never left;
- once terminal, slice events change nothing (the terminal event's totals are authoritative)
  and a second terminal event does not replace the first: such events are refused (counted in
  `refused_events`, and the store logs them);
- what is derived from times (pace, ETA, phase timings, first/last event) uses only the events'
  own `occurred_at`, and min/max where arrival order could differ, so a replay of the log
  computes the very same row as the live worker did.

Counting each event once is not this module's job: the store applies an event only if its
tracking record is new.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, get_args

from dicompress_schemas import pace
from dicompress_schemas.events import (
    CompressionRequested,
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    TerminalEvent,
)
from dicompress_schemas.figures import Figures, codestream_share, of_row
from dicompress_schemas.products import ImageRendered, PreviewParams, ProductRequested


class JobFoldError(ValueError):
    """An event contradicts the job it names (e.g. another tenant): it can never be applied."""


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES: Final = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class Outcome(StrEnum):
    """How a job ended, said once for every reader: a `completed` job that lost slices on the
    way (failed ones, or fewer handled than listed) is `completed-with-failures`, never a plain
    success."""

    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed-with-failures"
    FAILED = "failed"
    CANCELLED = "cancelled"


def outcome(
    status: str | None, slices_total: int | None, slices_done: int, slices_failed: int
) -> Outcome | None:
    """The outcome of a job in `status` with these counts; None while it is not over."""
    if status == Status.COMPLETED:
        short = slices_total is not None and slices_done < slices_total
        if slices_failed > 0 or short:
            return Outcome.COMPLETED_WITH_FAILURES
        return Outcome.COMPLETED
    if status == Status.FAILED:
        return Outcome.FAILED
    if status == Status.CANCELLED:
        return Outcome.CANCELLED
    return None


# The event types that end a job: the `type` of each `TerminalEvent`.
TERMINAL_EVENT_TYPES: Final = frozenset(cls.__name__ for cls in get_args(TerminalEvent))

_TERMINAL_RANK = 2
_RANK = {
    Status.QUEUED: 0,
    Status.RUNNING: 1,
    Status.COMPLETED: _TERMINAL_RANK,
    Status.FAILED: _TERMINAL_RANK,
    Status.CANCELLED: _TERMINAL_RANK,
}


@dataclass(frozen=True)
class JobView:
    """One row of `jobs`: what is known about a job so far. Field names are the column names."""

    job_id: uuid.UUID
    tenant: str
    status: Status
    source_uri: str | None = None
    target_uri: str | None = None
    compression_rate: float | None = None
    codec: str | None = None
    slices_total: int | None = None
    slices_done: int = 0
    slices_failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    ratio: float | None = None
    artifact_uri: str | None = None
    artifact_bytes: int | None = None
    error_code: str | None = None
    reason: str | None = None
    worker: str | None = None
    last_seq: int | None = None
    download_ms: float | None = None
    encode_ms: float | None = None
    upload_ms: float | None = None
    wall_ms: float | None = None
    requested_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int | None = None
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    last_slice_at: datetime | None = None
    slice_interval_ms: float | None = None
    eta_at: datetime | None = None
    queue_ms: float | None = None
    run_ms: float | None = None
    cpu_s: float | None = None
    peak_rss_bytes: int | None = None
    refused_events: int = 0
    product_kind: str | None = None  # None: a compression; else a ProductKind
    # sum over encoded slices of figures.codestream_share(): the ratio so far's denominator
    codestream_estimate: float | None = None

    @property
    def is_terminal(self) -> bool:
        return _RANK[self.status] == _TERMINAL_RANK

    @property
    def figures(self) -> Figures:
        """Pace, ETA and ratio as every reader shows them (`dicompress_schemas.figures`)."""
        return figures_of(self.__dict__)


def figures_of(row: Mapping[str, Any]) -> Figures:
    """The figures of a `jobs` row (a JobView's fields, or the columns as a reader selects
    them: status, slice_interval_ms, eta_at, ratio, bytes_in, codestream_estimate)."""
    return of_row(
        terminal=row["status"] in TERMINAL_STATUSES,
        slice_interval_ms=row["slice_interval_ms"],
        eta_at=row["eta_at"],
        ratio=row["ratio"],
        bytes_in=row["bytes_in"],
        codestream_estimate=row["codestream_estimate"],
    )


def apply(view: JobView | None, event: Event) -> JobView:
    """The view after `event`. Pure; raises JobFoldError if the event names another job or
    tenant than the view (such an event can never be applied, so it is dead-lettered)."""
    if view is None:
        # requested_at falls back to the first event seen, so listings ordered by it never see
        # NULL; the CompressionRequested, whenever it comes, overwrites it with the real time.
        view = JobView(
            job_id=event.job_id,
            tenant=event.tenant,
            status=Status.QUEUED,
            requested_at=event.occurred_at,
        )
    elif view.job_id != event.job_id:
        raise JobFoldError(f"event of job {event.job_id} applied to job {view.job_id}")
    elif view.tenant != event.tenant:
        raise JobFoldError(
            f"job {view.job_id} belongs to tenant {view.tenant!r}, "
            f"but a {event.type} (seq {event.seq}) names tenant {event.tenant!r}"
        )
    if ignored_as_late(view, event):
        folded = _with(view, refused_events=view.refused_events + 1)
    else:
        folded = _derive(_HANDLERS[type(event)](view, event))
        if not isinstance(event, _REQUESTS):
            folded = _with(folded, attempt=max(view.attempt or 1, event.attempt))
    return _with(
        folded,
        last_seq=event.seq if view.last_seq is None else max(view.last_seq, event.seq),
        first_event_at=_earliest(view.first_event_at, event.occurred_at),
        last_event_at=_latest(view.last_event_at, event.occurred_at),
    )


def ignored_as_late(view: JobView | None, event: Event) -> bool:
    """True if `event` comes after the job ended and so changes nothing but `last_seq`
    (worth a log line: it means a re-run or a producer bug)."""
    return view is not None and view.is_terminal and not isinstance(event, _REQUESTS)


# A job's seq 0, whichever kind of job it is.
_REQUESTS = (CompressionRequested, ProductRequested)


_FIELDS = frozenset(f.name for f in fields(JobView))


def _with(view: JobView, **changes: Any) -> JobView:
    """`dataclasses.replace` at a fraction of its cost: the fold's hot path (several per event;
    `replace` alone capped the store at ~6,000 events/s). Safe because JobView has neither
    `__post_init__` nor `init=False` fields; unknown names are still refused."""
    unknown = changes.keys() - _FIELDS
    if unknown:
        raise TypeError(f"JobView has no field(s) {sorted(unknown)}")
    new = object.__new__(JobView)
    new.__dict__.update(view.__dict__)
    new.__dict__.update(changes)
    return new


def _derive(view: JobView) -> JobView:
    """Phase timings from the job's timestamps (recomputed after every event, so a request
    that arrives late corrects `queue_ms`)."""
    return _with(
        view,
        queue_ms=_ms_between(view.requested_at, view.started_at),
        run_ms=_ms_between(view.started_at, view.finished_at),
        eta_at=None if view.is_terminal else view.eta_at,
    )


def _ms_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else min(current, candidate)


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else max(current, candidate)


def _paced(view: JobView, at: datetime) -> JobView:
    """The view with its pace and ETA updated for a slice outcome at `at`."""
    interval = pace.next_interval_ms(view.slice_interval_ms, view.last_slice_at, at)
    last_slice_at = _latest(view.last_slice_at, at)
    remaining = (
        None
        if view.slices_total is None
        else view.slices_total - view.slices_done - view.slices_failed
    )
    return _with(
        view,
        slice_interval_ms=interval,
        last_slice_at=last_slice_at,
        eta_at=pace.eta(interval, remaining, last_slice_at),
    )


def _advance(view: JobView, status: Status) -> Status:
    if view.is_terminal or _RANK[status] <= _RANK[view.status]:
        return view.status
    return status


def _on_requested(view: JobView, event: CompressionRequested) -> JobView:
    # The request's fields are facts about the job whatever its status, so always fill them.
    return _with(
        view,
        status=_advance(view, Status.QUEUED),
        source_uri=event.source_uri,
        target_uri=event.target_uri,
        compression_rate=event.compression_rate,
        codec=event.codec.value,
        requested_at=event.occurred_at,
    )


def _on_product_requested(view: JobView, event: ProductRequested) -> JobView:
    preview = event.params if isinstance(event.params, PreviewParams) else None
    return _with(
        view,
        status=_advance(view, Status.QUEUED),
        source_uri=event.source_uri,
        target_uri=event.target_uri,
        compression_rate=None if preview is None else preview.rate,
        codec=None if preview is None else preview.codec.value,
        requested_at=event.occurred_at,
        product_kind=event.kind.value,
    )


def _on_started(view: JobView, event: JobStarted) -> JobView:
    if view.is_terminal:
        return view
    return _with(
        view,
        status=_advance(view, Status.RUNNING),
        slices_total=event.total_slices,
        worker=event.worker,
        started_at=event.occurred_at,
    )


def _on_slice_encoded(view: JobView, event: SliceEncoded) -> JobView:
    if view.is_terminal:
        return view
    counted = _with(
        view,
        status=_advance(view, Status.RUNNING),
        slices_total=_first(view.slices_total, event.total_slices),
        slices_done=view.slices_done + 1,
        bytes_in=view.bytes_in + event.bytes_in,
        bytes_out=view.bytes_out + event.bytes_out,
        encode_ms=(view.encode_ms or 0.0) + event.encode_ms,
        codestream_estimate=(view.codestream_estimate or 0.0)
        + codestream_share(event.bytes_in, event.ratio),
    )
    return _paced(counted, event.occurred_at)


def _on_image_rendered(view: JobView, event: ImageRendered) -> JobView:
    if view.is_terminal:
        return view
    counted = _with(
        view,
        status=_advance(view, Status.RUNNING),
        slices_total=_first(view.slices_total, event.total_items),
        slices_done=view.slices_done + 1,
        bytes_out=view.bytes_out + event.bytes,
    )
    return _paced(counted, event.occurred_at)


def _on_slice_failed(view: JobView, event: SliceFailed) -> JobView:
    if view.is_terminal:
        return view
    counted = _with(
        view,
        status=_advance(view, Status.RUNNING),
        slices_total=_first(view.slices_total, event.total_slices),
        slices_failed=view.slices_failed + 1,
    )
    return _paced(counted, event.occurred_at)


def _on_completed(view: JobView, event: JobCompleted) -> JobView:
    if view.is_terminal:
        return view
    # The compressor's totals are authoritative: they replace the running counts.
    return _with(
        view,
        status=Status.COMPLETED,
        slices_total=_first(view.slices_total, event.slices_encoded + event.slices_failed),
        slices_done=event.slices_encoded,
        slices_failed=event.slices_failed,
        bytes_in=event.bytes_in,
        bytes_out=event.bytes_out,
        ratio=event.ratio,
        artifact_uri=event.artifact_uri,
        artifact_bytes=event.artifact_bytes,
        download_ms=event.download_ms,
        encode_ms=event.encode_ms,
        upload_ms=event.upload_ms,
        wall_ms=event.wall_ms,
        cpu_s=event.cpu_s,
        peak_rss_bytes=event.peak_rss_bytes,
        finished_at=event.occurred_at,
    )


def _on_failed(view: JobView, event: JobFailed) -> JobView:
    if view.is_terminal:
        return view
    return _with(
        view,
        status=Status.FAILED,
        error_code=event.error_code,
        reason=event.reason,
        finished_at=event.occurred_at,
    )


def _on_cancelled(view: JobView, event: JobCancelled) -> JobView:
    if view.is_terminal:
        return view
    return _with(
        view, status=Status.CANCELLED, reason=event.reason or None, finished_at=event.occurred_at
    )


def _first(current: int | None, candidate: int) -> int:
    return candidate if current is None else current


# Keyed by event class; `Any` because each handler takes its own event type.
_HANDLERS: dict[type[Any], Callable[[JobView, Any], JobView]] = {
    CompressionRequested: _on_requested,
    ProductRequested: _on_product_requested,
    ImageRendered: _on_image_rendered,
    JobStarted: _on_started,
    SliceEncoded: _on_slice_encoded,
    SliceFailed: _on_slice_failed,
    JobCompleted: _on_completed,
    JobFailed: _on_failed,
    JobCancelled: _on_cancelled,
}
