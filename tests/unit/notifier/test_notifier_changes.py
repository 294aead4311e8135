"""parse_change: the progress worker's job_progress payloads, and what is refused."""

from __future__ import annotations

import uuid

import orjson
import pytest

from dicompress_notifier.changes import parse_change
from dicompress_notifier.model import Change

JOB = uuid.uuid4()


def test_a_progress_payload_becomes_a_change() -> None:
    text = orjson.dumps(
        {"job_id": str(JOB), "tenant": "acme", "status": "running", "last_seq": 7}
    ).decode()
    assert parse_change(text) == Change(JOB, "acme", 7)
    assert parse_change(orjson.dumps({"job_id": str(JOB)}).decode()) == Change(JOB)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"job_id": "nope"}',
        orjson.dumps({"job_id": str(JOB), "tenant": 3}).decode(),
        orjson.dumps({"job_id": str(JOB), "last_seq": "7"}).decode(),
        orjson.dumps({"job_id": str(JOB), "last_seq": True}).decode(),
    ],
)
def test_malformed_payloads_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_change(text)
