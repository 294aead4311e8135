"""The change feed's payload: what the progress worker notifies is what subscribers parse, and
what they refuse."""

from __future__ import annotations

import uuid

import orjson
import pytest

from dicompress_schemas.changefeed import Change, parse

JOB = uuid.uuid4()


def test_a_payload_becomes_a_change() -> None:
    text = orjson.dumps(
        {"job_id": str(JOB), "tenant": "acme", "status": "running", "last_seq": 7}
    ).decode()
    assert parse(text) == Change(JOB, "acme", 7)
    assert parse(orjson.dumps({"job_id": str(JOB)}).decode()) == Change(JOB)


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
        parse(text)
