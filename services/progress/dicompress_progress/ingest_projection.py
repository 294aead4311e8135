"""The pure core of the study index: fold an ingest's events into one `IngestView` (a row of
`ingests`), in whatever order the two ingest topics deliver them.

`ArchiveUploaded` (ingest requests topic) and the later events (ingest events topic) are
consumed independently, so either may come first, as with jobs (`projection.py`):

- any event may create the view; the upload's fields are filled whenever `ArchiveUploaded`
  arrives, and `uploaded_at` falls back to the first event seen until then;
- status only moves forward (queued < running < completed | failed) and never leaves a
  terminal status; once terminal, member events are refused (counted in `refused_events`)
  and the terminal event's totals stay authoritative;
- times come from the events' own `occurred_at`, with min/max where arrival order could
  differ, so a replay of the log computes the same row.

What each member event says about its instance or rejection is `study_rows.py`; counting each
event once is the store's job (its tracking record).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dicompress_progress.errors import ProjectionError
from dicompress_schemas import (
    ArchiveUploaded,
    IngestCompleted,
    IngestEvent,
    IngestFailed,
    IngestStarted,
    InstanceKind,
    InstanceStored,
    MemberRejected,
)


class IngestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


_TERMINAL_RANK = 2
_RANK = {
    IngestStatus.QUEUED: 0,
    IngestStatus.RUNNING: 1,
    IngestStatus.COMPLETED: _TERMINAL_RANK,
    IngestStatus.FAILED: _TERMINAL_RANK,
}


@dataclass(frozen=True)
class IngestView:
    """One row of `ingests`: what is known about an upload's ingest so far. Field names are the
    column names."""

    ingest_id: uuid.UUID
    tenant: str
    status: IngestStatus
    file_name: str | None = None
    bucket: str | None = None
    key: str | None = None
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    channel: str | None = None
    upload_id: uuid.UUID | None = None
    worker: str | None = None
    archive_bytes: int | None = None
    members: int = 0
    instances: int = 0
    images: int = 0
    non_images: int = 0
    rejected: int = 0
    skipped: int = 0
    bytes_stored: int = 0
    error_code: str | None = None
    reason: str | None = None
    detail: str | None = None
    wall_ms: float | None = None
    attempt: int | None = None
    last_seq: int | None = None
    refused_events: int = 0
    uploaded_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return _RANK[self.status] == _TERMINAL_RANK


def apply_ingest(view: IngestView | None, event: IngestEvent) -> IngestView:
    """The view after `event`. Pure; raises ProjectionError if the event names another ingest or
    tenant than the view (such an event can never be applied, so it is dead-lettered)."""
    if view is None:
        view = IngestView(
            ingest_id=event.ingest_id,
            tenant=event.tenant,
            status=IngestStatus.QUEUED,
            uploaded_at=event.occurred_at,
        )
    elif view.ingest_id != event.ingest_id:
        raise ProjectionError(f"event of ingest {event.ingest_id} applied to {view.ingest_id}")
    elif view.tenant != event.tenant:
        raise ProjectionError(
            f"ingest {view.ingest_id} belongs to tenant {view.tenant!r}, "
            f"but a {event.type} (seq {event.seq}) names tenant {event.tenant!r}"
        )
    if ingest_event_is_late(view, event):
        folded = replace(view, refused_events=view.refused_events + 1)
    else:
        folded = _HANDLERS[type(event)](view, event)
        if not isinstance(event, ArchiveUploaded):
            folded = replace(folded, attempt=max(view.attempt or 1, event.attempt))
    return replace(
        folded,
        last_seq=event.seq if view.last_seq is None else max(view.last_seq, event.seq),
        first_event_at=_earliest(view.first_event_at, event.occurred_at),
        last_event_at=_latest(view.last_event_at, event.occurred_at),
    )


def ingest_event_is_late(view: IngestView | None, event: IngestEvent) -> bool:
    """True if `event` comes after the ingest ended, so its counts are refused (the upload's
    own facts, `ArchiveUploaded`, are always taken)."""
    return view is not None and view.is_terminal and not isinstance(event, ArchiveUploaded)


def _advance(view: IngestView, status: IngestStatus) -> IngestStatus:
    if view.is_terminal or _RANK[status] <= _RANK[view.status]:
        return view.status
    return status


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else min(current, candidate)


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else max(current, candidate)


def _on_uploaded(view: IngestView, event: ArchiveUploaded) -> IngestView:
    return replace(
        view,
        status=_advance(view, IngestStatus.QUEUED),
        file_name=event.file_name,
        bucket=event.bucket,
        key=event.key,
        size=event.size,
        etag=event.etag,
        content_type=event.content_type,
        channel=event.channel.value,
        upload_id=event.upload_id,
        uploaded_at=event.occurred_at,
    )


def _on_started(view: IngestView, event: IngestStarted) -> IngestView:
    return replace(
        view,
        status=_advance(view, IngestStatus.RUNNING),
        worker=event.worker,
        archive_bytes=event.archive_bytes,
        started_at=event.occurred_at,
    )


def _on_stored(view: IngestView, event: InstanceStored) -> IngestView:
    image = event.kind is InstanceKind.IMAGE
    return replace(
        view,
        status=_advance(view, IngestStatus.RUNNING),
        members=view.members + 1,
        instances=view.instances + 1,
        images=view.images + int(image),
        non_images=view.non_images + int(not image),
        bytes_stored=view.bytes_stored + event.bytes,
    )


def _on_rejected(view: IngestView, event: MemberRejected) -> IngestView:
    return replace(
        view,
        status=_advance(view, IngestStatus.RUNNING),
        members=view.members + 1,
        rejected=view.rejected + 1,
    )


def _on_completed(view: IngestView, event: IngestCompleted) -> IngestView:
    # The ingest service's totals are authoritative: they replace the running counts.
    return replace(
        view,
        status=IngestStatus.COMPLETED,
        members=event.members,
        instances=event.instances_stored,
        images=event.images,
        non_images=event.non_images,
        rejected=event.rejected,
        skipped=event.skipped,
        bytes_stored=event.bytes_stored,
        wall_ms=event.wall_ms,
        finished_at=event.occurred_at,
    )


def _on_failed(view: IngestView, event: IngestFailed) -> IngestView:
    return replace(
        view,
        status=IngestStatus.FAILED,
        error_code=event.error_code,
        reason=event.reason,
        detail=event.detail or None,
        finished_at=event.occurred_at,
    )


# Keyed by event class; `Any` because each handler takes its own event type.
_HANDLERS: dict[type[Any], Callable[[IngestView, Any], IngestView]] = {
    ArchiveUploaded: _on_uploaded,
    IngestStarted: _on_started,
    InstanceStored: _on_stored,
    MemberRejected: _on_rejected,
    IngestCompleted: _on_completed,
    IngestFailed: _on_failed,
}
