"""Frames: validation of what clients send, shape of what we send, token extraction."""

from __future__ import annotations

import uuid

import orjson
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from dicompress_notifier.gate import bearer_token
from dicompress_notifier.model import JobEvent
from dicompress_notifier.protocol import (
    Cancel,
    ErrorCode,
    FrameError,
    GapReason,
    Subscribe,
    Unsubscribe,
    cancel_requested_frame,
    error_frame,
    event_frame,
    gap_frame,
    parse_frame,
    progress_frame,
    snapshot_frame,
)
from dicompress_schemas.histories import JobHistory

JOB = uuid.uuid4()


def frame(**fields: object) -> str:
    return orjson.dumps(fields).decode()


def test_subscribe_and_unsubscribe_parse() -> None:
    assert parse_frame(f'{{"op":"subscribe","job_id":"{JOB}"}}') == Subscribe(JOB, None)
    assert parse_frame(frame(op="subscribe", job_id=str(JOB), since_seq=None)) == Subscribe(JOB)
    assert parse_frame(frame(op="subscribe", job_id=str(JOB), since_seq=-1)) == Subscribe(JOB, -1)
    assert parse_frame(
        orjson.dumps({"op": "subscribe", "job_id": str(JOB), "since_seq": 4})
    ) == Subscribe(JOB, 4)
    largest = frame(op="subscribe", job_id=str(JOB), since_seq=2**31 - 1)
    assert parse_frame(largest) == Subscribe(JOB, 2**31 - 1)
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
        # beyond the 32-bit seq of the projection (2**31 once closed the connection with 1011)
        (frame(op="subscribe", job_id=str(JOB), since_seq=2**31), ErrorCode.BAD_FRAME),
        (frame(op="subscribe", job_id=str(JOB), since_seq=2**63), ErrorCode.BAD_FRAME),
        (frame(op="subscribe", job_id=str(JOB), since_seq=-(2**63)), ErrorCode.BAD_FRAME),
        (
            f'{{"op": "subscribe", "job_id": "{JOB}", "since_seq": 1{"0" * 30}}}',
            ErrorCode.BAD_FRAME,
        ),
        (frame(op="subscribe", job_id=str(JOB), since_seq=3.0), ErrorCode.BAD_FRAME),
        ('{"op": "unsubscribe", "job_id": ""}', ErrorCode.BAD_FRAME),
        ('{"op": "cancel"}', ErrorCode.BAD_FRAME),
        ('{"op": "cancel", "job_id": "x"}', ErrorCode.BAD_FRAME),
        (frame(op="cancel", job_id=str(JOB), reason=3), ErrorCode.BAD_FRAME),
        (frame(op="cancel", job_id=str(JOB), reason=""), ErrorCode.BAD_FRAME),
        (frame(op="cancel", job_id=str(JOB), reason="x" * 1001), ErrorCode.BAD_FRAME),
        (frame(op="CANCEL", job_id=str(JOB)), ErrorCode.UNKNOWN_OP),
        ('"cancel"', ErrorCode.BAD_FRAME),
        ("null", ErrorCode.BAD_FRAME),
        (b"\xff\xfe", ErrorCode.BAD_FRAME),
    ],
)
def test_malformed_frames_raise_frame_error(text: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(text)
    assert caught.value.code is code
    assert caught.value.message


def test_event_frame_carries_the_event_json_unchanged() -> None:
    started = JobHistory(JOB, "acme").started(total=3)
    sent = orjson.loads(event_frame(JobEvent.of(started)))
    assert sent == {
        "op": "event",
        "job_id": str(JOB),
        "seq": 1,
        "event": started.model_dump(mode="json"),
    }
    assert not JobEvent.of(started).terminal


def test_cancel_parses_with_or_without_a_reason() -> None:
    assert parse_frame(frame(op="cancel", job_id=str(JOB))) == Cancel(JOB)
    assert parse_frame(frame(op="cancel", job_id=str(JOB), reason="wrong series")) == Cancel(
        JOB, "wrong series"
    )


def test_new_server_frames_shape() -> None:
    command = uuid.uuid4()
    assert orjson.loads(snapshot_frame(JOB, -1, None)) == {
        "op": "snapshot",
        "job_id": str(JOB),
        "seq": -1,
        "job": None,
    }
    assert orjson.loads(gap_frame(JOB, 9, GapReason.BEYOND_END, "ended at 7")) == {
        "op": "gap",
        "job_id": str(JOB),
        "since_seq": 9,
        "reason": "beyond-end",
        "message": "ended at 7",
    }
    assert orjson.loads(progress_frame(JOB, 12, 40, 10, [3, 4], 2)) == {
        "op": "progress",
        "job_id": str(JOB),
        "seq": 12,
        "slices_total": 40,
        "slices_done": 10,
        "slice_indexes": [3, 4],
        "coalesced": 2,
    }
    assert orjson.loads(cancel_requested_frame(JOB, command)) == {
        "op": "cancel-requested",
        "job_id": str(JOB),
        "command_id": str(command),
    }


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
