"""Frames: validation of what clients send, shape of what we send, token extraction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from dicompress_notifier.gate import bearer_token
from dicompress_notifier.model import JobEvent
from dicompress_notifier.protocol import (
    ErrorCode,
    FrameError,
    Subscribe,
    Unsubscribe,
    error_frame,
    event_frame,
    parse_frame,
)
from dicompress_schemas import JobStarted, new_event_id

JOB = uuid.uuid4()


def frame(**fields: object) -> str:
    return orjson.dumps(fields).decode()


def test_subscribe_and_unsubscribe_parse() -> None:
    assert parse_frame(f'{{"op":"subscribe","job_id":"{JOB}"}}') == Subscribe(JOB, -1)
    assert parse_frame(
        orjson.dumps({"op": "subscribe", "job_id": str(JOB), "since_seq": 4})
    ) == Subscribe(JOB, 4)
    assert parse_frame(f'{{"op":"unsubscribe","job_id":"{JOB}"}}') == Unsubscribe(JOB)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", ErrorCode.BAD_FRAME),
        ("[1, 2]", ErrorCode.BAD_FRAME),
        (frame(job_id=str(JOB)), ErrorCode.UNKNOWN_OP),
        (frame(op="shout", job_id=str(JOB)), ErrorCode.UNKNOWN_OP),
        ('{"op": "subscribe"}', ErrorCode.BAD_FRAME),
        ('{"op": "subscribe", "job_id": "not-a-uuid"}', ErrorCode.BAD_FRAME),
        ('{"op": "subscribe", "job_id": 42}', ErrorCode.BAD_FRAME),
        (frame(op="subscribe", job_id=str(JOB), since_seq="3"), ErrorCode.BAD_FRAME),
        (frame(op="subscribe", job_id=str(JOB), since_seq=True), ErrorCode.BAD_FRAME),
        (frame(op="subscribe", job_id=str(JOB), since_seq=-2), ErrorCode.BAD_FRAME),
        ('{"op": "unsubscribe", "job_id": ""}', ErrorCode.BAD_FRAME),
    ],
)
def test_malformed_frames_raise_frame_error(text: str, code: ErrorCode) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(text)
    assert caught.value.code is code
    assert caught.value.message


def test_event_frame_carries_the_event_json_unchanged() -> None:
    started = JobStarted(
        event_id=new_event_id(JOB, 1),
        job_id=JOB,
        tenant="acme",
        seq=1,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        total_slices=3,
        total_bytes=100,
        worker="w1",
    )
    sent = orjson.loads(event_frame(JobEvent.of(started)))
    assert sent == {
        "op": "event",
        "job_id": str(JOB),
        "seq": 1,
        "event": started.model_dump(mode="json"),
    }
    assert not JobEvent.of(started).terminal


def test_error_frame_shape() -> None:
    sent = orjson.loads(error_frame(ErrorCode.NOT_FOUND, "no job", JOB))
    assert sent == {"op": "error", "code": "not-found", "message": "no job", "job_id": str(JOB)}


def request(path: str, **headers: str) -> Request:
    return Request(path, Headers(headers))


def test_bearer_token_from_header_or_query() -> None:
    assert bearer_token(request("/ws", Authorization="Bearer abc")) == "abc"
    assert bearer_token(request("/ws", Authorization="bearer  abc ")) == "abc"
    assert bearer_token(request("/ws?token=xyz")) == "xyz"
    assert bearer_token(request("/ws?token=xyz", Authorization="Bearer abc")) == "abc"
    assert bearer_token(request("/ws", Authorization="Basic dXNlcjpwdw==")) is None
    assert bearer_token(request("/ws")) is None
