"""Idempotency-Key checks and the request fingerprint (pure)."""

import uuid

import pytest

from dicompress_api.adapters.idempotency import fingerprint, idempotency_key
from dicompress_api.web.errors import InvalidRequest
from dicompress_schemas import CompressionRequested
from dicompress_schemas.histories import JobHistory


def event(**fields: object) -> CompressionRequested:
    values: dict[str, object] = {
        "source_uri": "s3://bkt/acme/in",
        "target_uri": "s3://bkt/acme/out",
        "compression_rate": 50.0,
        **fields,
    }
    return JobHistory(tenant="acme").requested(**values)


def test_fingerprint_ignores_the_job_and_time_but_not_the_options() -> None:
    assert fingerprint(event()) == fingerprint(event())
    assert fingerprint(event()) != fingerprint(event(compression_rate=51.0))
    assert fingerprint(event()) != fingerprint(event(anonymize=True))
    assert fingerprint(event()) != fingerprint(event(target_uri="s3://bkt/acme/other"))


@pytest.mark.parametrize("bad", ["", "with space", "tab\\t".replace("\\t", "\t"), "é", "x" * 256])
def test_bad_keys_are_refused_on_the_header(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        idempotency_key(bad)
    assert [(p.field, p.location) for p in caught.value.problems] == [("Idempotency-Key", "header")]


def test_good_keys_pass() -> None:
    assert idempotency_key(None) is None
    key = str(uuid.uuid4())
    assert idempotency_key(key) == key
