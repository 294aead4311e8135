"""Frames of protocol v1 (see the package docstring): parse what clients send, build what we send.

Pure functions: parsing never raises anything but `FrameError`, whose code and message go back
to the client in an error frame; the connection stays open.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from dicompress_notifier.errors import NotifierError
from dicompress_notifier.model import JobEvent


class ErrorCode(StrEnum):
    """Stable codes of error frames; clients switch on these, never on the message."""

    BAD_FRAME = "bad-frame"
    UNKNOWN_OP = "unknown-op"
    NOT_FOUND = "not-found"
    ALREADY_SUBSCRIBED = "already-subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too-many-subscriptions"


class FrameError(NotifierError):
    """A client frame we cannot act on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Subscribe:
    """Send me every event of `job_id` with seq > `since_seq`, in order, then live."""

    job_id: uuid.UUID
    since_seq: int = -1


@dataclass(frozen=True)
class Unsubscribe:
    job_id: uuid.UUID


ClientFrame = Subscribe | Unsubscribe


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
    raise FrameError(ErrorCode.UNKNOWN_OP, f"unknown op {op!r}; use 'subscribe' or 'unsubscribe'")


def _job_id(raw: dict[str, Any]) -> uuid.UUID:
    value = raw.get("job_id")
    if not isinstance(value, str):
        raise FrameError(ErrorCode.BAD_FRAME, "'job_id' must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise FrameError(ErrorCode.BAD_FRAME, f"'job_id' {value!r} is not a UUID") from exc


def _since_seq(raw: dict[str, Any]) -> int:
    value = raw.get("since_seq", -1)
    # bool is an int in Python; `true` is a client bug, not seq 1
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise FrameError(
            ErrorCode.BAD_FRAME,
            "'since_seq' must be an integer >= -1 (the last seq you have; -1 for everything)",
        )
    return value


def subscribed_frame(job_id: uuid.UUID) -> str:
    return _dumps({"op": "subscribed", "job_id": str(job_id)})


def unsubscribed_frame(job_id: uuid.UUID) -> str:
    return _dumps({"op": "unsubscribed", "job_id": str(job_id)})


def event_frame(event: JobEvent) -> str:
    """The event's JSON is spliced in as it is, not parsed and re-encoded."""
    return _dumps(
        {
            "op": "event",
            "job_id": str(event.job_id),
            "seq": event.seq,
            "event": orjson.Fragment(event.body),
        }
    )


def error_frame(code: ErrorCode, message: str, job_id: uuid.UUID | None = None) -> str:
    frame: dict[str, Any] = {"op": "error", "code": code.value, "message": message}
    if job_id is not None:
        frame["job_id"] = str(job_id)
    return _dumps(frame)


def _dumps(frame: dict[str, Any]) -> str:
    # text frames: browsers hand binary frames over as Blobs
    return orjson.dumps(frame).decode()
