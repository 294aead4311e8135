import uuid
from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from dicompress_api.errors import InvalidRequest
from dicompress_api.submission import JobAccepted, JobRequest, plan_job
from dicompress_schemas import CompressionRequested, decode_event, encode_event, new_event_id

JOB = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
BODY = {"s3SourceUri": "s3://dicompress-data/in/ct1", "s3TargetUri": "s3://dicompress-data/out"}


def plan(body: Mapping[str, object]) -> tuple[CompressionRequested, JobAccepted]:
    return plan_job(
        JobRequest.model_validate(body),
        tenant="acme",
        job_id=JOB,
        allowed_buckets={"dicompress-data"},
        default_rate=100,
    )


def test_event_is_seq_0_of_the_job_with_the_tenant_and_defaults() -> None:
    event, accepted = plan(BODY)
    assert event.seq == 0
    assert event.event_id == new_event_id(JOB, 0)
    assert (event.job_id, event.tenant, event.compression_rate) == (JOB, "acme", 100)
    assert event.output_filename is None
    assert accepted.artifact_uri == f"s3://dicompress-data/out/{JOB}.zip"
    assert accepted.status_url == f"/jobs/{JOB}"
    assert isinstance(decode_event(encode_event(event)), CompressionRequested)


def test_options_are_carried_into_the_event() -> None:
    body = {
        **BODY,
        "compressionRate": 40,
        "anonymize": True,
        "outputFilename": "ct1",
        "overwriteExisting": True,
    }
    event, accepted = plan(body)
    assert (event.compression_rate, event.anonymize, event.overwrite_existing) == (40, True, True)
    assert event.output_filename == "ct1.zip"
    assert accepted.artifact_uri == "s3://dicompress-data/out/ct1.zip"
    assert accepted.options.model_dump(by_alias=True)["outputFilename"] == "ct1.zip"


def test_each_field_with_a_foreign_bucket_is_named() -> None:
    body = {"s3SourceUri": "s3://elsewhere/in", "s3TargetUri": "s3://other-bucket/out"}
    with pytest.raises(InvalidRequest) as caught:
        plan(body)
    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("s3SourceUri", "bucket_not_allowed"),
        ("s3TargetUri", "bucket_not_allowed"),
    ]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"compressionRate": 1}, "compressionRate", "greater_than"),
        ({"compressionRate": 1000.5}, "compressionRate", "less_than_equal"),
        ({"compressionRate": "50"}, "compressionRate", "float_type"),
        ({"anonymize": "yes"}, "anonymize", "bool_type"),
        ({"s3SourceUri": "s3://dicompress-data/a/../b"}, "s3SourceUri", "s3_uri"),
        ({"s3TargetUri": "http://dicompress-data/out"}, "s3TargetUri", "s3_uri"),
        ({"outputFilename": "../x"}, "outputFilename", "unsafe_filename"),
        ({"bucket": "x"}, "bucket", "extra_forbidden"),
        ({"s3_source_uri": "s3://dicompress-data/in"}, "s3_source_uri", "extra_forbidden"),
    ],
)
def test_invalid_bodies_name_the_field_and_rule(
    change: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        JobRequest.model_validate({**BODY, **change})
    assert (field, rule) in {(str(e["loc"][0]), e["type"]) for e in caught.value.errors()}


def test_integer_rate_is_a_number() -> None:
    assert JobRequest.model_validate({**BODY, "compressionRate": 1000}).compression_rate == 1000
