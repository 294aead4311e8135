"""Frames of protocol v1 (see the package docstring): parse what clients send, build what we send.

Pure functions: parsing never raises anything but `FrameError`, whose code and message go back
to the client in an error frame; the connection stays open.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from dicompress_notifier.errors import NotifierError
from dicompress_notifier.model import JobEvent
from dicompress_schemas.envelope import SEQ_MAX


class ErrorCode(StrEnum):
    """Stable codes of error frames; clients switch on these, never on the message."""

    BAD_FRAME = "bad-frame"
    UNKNOWN_OP = "unknown-op"
    NOT_FOUND = "not-found"
    ALREADY_SUBSCRIBED = "already-subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too-many-subscriptions"
    NOT_CANCELLABLE = "not-cancellable"  # the job is already over
    UNAVAILABLE = "unavailable"  # the broker did not take the command in time; try again


class GapReason(StrEnum):
    """Why the events after a `since_seq` cannot be sent (a `gap` frame's `reason`)."""

    BEYOND_END = "beyond-end"  # since_seq is past the job's terminal event
    BEYOND_LOG = "beyond-log"  # since_seq is past every event the log holds for the job
    NOT_IN_LOG = "not-in-log"  # some of the events after since_seq are no longer stored
    MISSING_EVENTS = "missing-events"  # events never arrived while the terminal one waited


class FrameError(NotifierError):
    """A client frame we cannot act on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Subscribe:
    """Send me every event of `job_id` with seq > `since_seq`, in order, then live; without
    `since_seq`, a snapshot of the job first and then the events after it."""

    job_id: uuid.UUID
    since_seq: int | None = None


@dataclass(frozen=True)
class Unsubscribe:
    job_id: uuid.UUID


@dataclass(frozen=True)
class Cancel:
    """Ask the compressors to stop `job_id` (the token's tenant must own it)."""

    job_id: uuid.UUID
    reason: str | None = None


ClientFrame = Subscribe | Unsubscribe | Cancel
MAX_REASON = 1000  # as CancelRequested.reason


def parse_frame(data: str | bytes) -> ClientFrame:
    """Validate one client frame; raise FrameError saying what is wrong and how to fix it."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FrameError(ErrorCode.BAD_FRAME, f"frame is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "frame must be a JSON object with an 'op'")
    op = raw.get("op")
    if op == "subscribe":
        return Subscribe(job_id=_job_id(raw), since_seq=_since_seq(raw))
    if op == "unsubscribe":
        return Unsubscribe(job_id=_job_id(raw))
    if op == "cancel":
        return Cancel(job_id=_job_id(raw), reason=_reason(raw))
    raise FrameError(
        ErrorCode.UNKNOWN_OP, f"unknown op {op!r}; use 'subscribe', 'unsubscribe' or 'cancel'"
    )


def _job_id(raw: dict[str, Any]) -> uuid.UUID:
    value = raw.get("job_id")
    if not isinstance(value, str):
        raise FrameError(ErrorCode.BAD_FRAME, "'job_id' must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise FrameError(ErrorCode.BAD_FRAME, f"'job_id' {value!r} is not a UUID") from exc


def _since_seq(raw: dict[str, Any]) -> int | None:
    value = raw.get("since_seq")
    if value is None:
        return None
    # bool is an int in Python; `true` is a client bug, not seq 1. The range is the contract's:
    # checked here, where the frame is read, not left to fail in a query (which closed the
    # connection with 1011)
    if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= SEQ_MAX:
        raise FrameError(
            ErrorCode.BAD_FRAME,
            f"'since_seq' must be an integer from -1 to {SEQ_MAX} (the last seq you have; "
            "-1 for everything)",
        )
    return value


def _reason(raw: dict[str, Any]) -> str | None:
    value = raw.get("reason")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REASON:
        raise FrameError(
            ErrorCode.BAD_FRAME, f"'reason' must be a string of 1 to {MAX_REASON} characters"
        )
    return value


def subscribed_frame(job_id: uuid.UUID) -> str:
    return _dumps({"op": "subscribed", "job_id": str(job_id)})


def unsubscribed_frame(job_id: uuid.UUID) -> str:
    return _dumps({"op": "unsubscribed", "job_id": str(job_id)})


@functools.lru_cache(maxsize=4096)
def event_frame(event: JobEvent) -> str:
    """The event's JSON is spliced in as it is, not parsed and re-encoded. Cached: every
    subscriber of the job sends the same frame, so it is rendered once per event, not once
    per subscriber (the events recently fanned out are what is kept)."""
    return _dumps(
        {
            "op": "event",
            "job_id": str(event.job_id),
            "seq": event.seq,
            "event": orjson.Fragment(event.body),
        }
    )


def snapshot_frame(job_id: uuid.UUID, seq: int, job: dict[str, Any] | None) -> str:
    """The job's state from the projection as of `seq` (`job` None and seq -1: not known yet)."""
    return _dumps({"op": "snapshot", "job_id": str(job_id), "seq": seq, "job": job})


def figures_frame(job_id: uuid.UUID, seq: int, figures: dict[str, Any]) -> str:
    """The job's pace, ETA and ratio as the projection computed them at `seq` (what
    `GET /jobs/{id}` answers at that seq): shown as they are; the highest seq wins."""
    return _dumps({"op": "figures", "job_id": str(job_id), "seq": seq, "figures": figures})


def gap_frame(job_id: uuid.UUID, since_seq: int, reason: GapReason, message: str) -> str:
    """The events after `since_seq` cannot be sent; a fresh snapshot follows."""
    return _dumps(
        {
            "op": "gap",
            "job_id": str(job_id),
            "since_seq": since_seq,
            "reason": reason.value,
            "message": message,
        }
    )


def progress_frame(
    job_id: uuid.UUID,
    seq: int,
    slices_total: int | None,
    slices_done: int | None,
    slice_indexes: list[int],
    coalesced: int,
) -> str:
    """Several SliceEncoded events of a lagging client folded into one (latest seq wins)."""
    return _dumps(
        {
            "op": "progress",
            "job_id": str(job_id),
            "seq": seq,
            "slices_total": slices_total,
            "slices_done": slices_done,
            "slice_indexes": slice_indexes,
            "coalesced": coalesced,
        }
    )


def cancel_requested_frame(job_id: uuid.UUID, command_id: uuid.UUID) -> str:
    """The broker has the CancelRequested command; the job's JobCancelled event follows."""
    return _dumps({"op": "cancel-requested", "job_id": str(job_id), "command_id": str(command_id)})


def error_frame(code: ErrorCode, message: str, job_id: uuid.UUID | None = None) -> str:
    frame: dict[str, Any] = {"op": "error", "code": code.value, "message": message}
    if job_id is not None:
        frame["job_id"] = str(job_id)
    return _dumps(frame)


def _dumps(frame: dict[str, Any]) -> str:
    # text frames: browsers hand binary frames over as Blobs
    return orjson.dumps(frame).decode()
