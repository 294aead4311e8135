import uuid
from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from dicompress_api.jobs.sources import SourceInfo
from dicompress_api.jobs.submission import JobRequest, SubmitPolicy, accepted, plan_job
from dicompress_api.settings import ApiSettings
from dicompress_api.web.errors import ForbiddenLocation, InvalidRequest
from dicompress_schemas import Codec, CompressionRequested, decode_event, encode_event, new_event_id
from dicompress_schemas.events import DEFAULT_MIN_PSNR_DB

JOB = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
BODY = {
    "s3SourceUri": "s3://dicompress-data/acme/in/ct1",
    "s3TargetUri": "s3://dicompress-data/acme/out",
}
SOURCE = SourceInfo(file_count=2, total_bytes=10)


def plan(body: Mapping[str, object], **settings: object) -> CompressionRequested:
    policy = SubmitPolicy.of(ApiSettings(api_allowed_buckets=["dicompress-data"], **settings))
    return plan_job(JobRequest.model_validate(body), tenant="acme", job_id=JOB, policy=policy)


def test_event_is_seq_0_of_the_job_with_the_tenant_and_defaults() -> None:
    event = plan(BODY)
    assert event.seq == 0
    assert event.event_id == new_event_id(JOB, 0)
    assert (event.job_id, event.tenant, event.compression_rate) == (JOB, "acme", 100)
    assert (event.codec, event.anonymize, event.overwrite_existing) == (Codec.J2K_LOSSY, 0, 0)
    assert event.output_filename is None
    assert event.min_psnr_db == DEFAULT_MIN_PSNR_DB == 30  # on by default for a lossy job
    answer = accepted(event, SOURCE)
    stamp = event.occurred_at.strftime("%Y%m%d-%H%M%S")
    assert answer.artifact_uri == f"s3://dicompress-data/acme/out/ct1-rate100-{stamp}.zip"
    assert answer.status_url == f"/jobs/{JOB}"
    assert answer.source == SOURCE
    assert isinstance(decode_event(encode_event(event)), CompressionRequested)


def test_options_are_carried_into_the_event() -> None:
    body = {
        **BODY,
        "compressionRate": 40,
        "codec": "htj2k-lossy",
        "anonymize": True,
        "outputFilename": "ct1",
        "overwriteExisting": True,
        "minPsnrDb": 38.5,
    }
    event = plan(body)
    assert (event.compression_rate, event.anonymize, event.overwrite_existing) == (40, True, True)
    assert (event.codec, event.min_psnr_db) == (Codec.HTJ2K_LOSSY, 38.5)
    assert event.output_filename == "ct1.zip"
    answer = accepted(event, SOURCE, "key-1")
    assert answer.artifact_uri == "s3://dicompress-data/acme/out/ct1.zip"
    assert answer.options.model_dump(by_alias=True)["outputFilename"] == "ct1.zip"
    assert answer.idempotency_key == "key-1"


def test_every_optional_field_defaults_from_the_settings() -> None:
    event = plan(
        BODY,
        api_default_rate=25,
        api_default_anonymize=True,
        api_default_overwrite=True,
        api_default_min_psnr_db=40,
    )
    assert (event.compression_rate, event.anonymize, event.overwrite_existing) == (25, 1, 1)
    assert event.min_psnr_db == 40
    lossless = plan(BODY, api_default_codec="htj2k-lossless", api_default_min_psnr_db=40)
    assert (lossless.codec, lossless.compression_rate) == (Codec.HTJ2K_LOSSLESS, None)
    assert lossless.min_psnr_db is None  # a quality floor means nothing without loss
    assert plan(BODY, api_default_min_psnr_db=None).min_psnr_db is None  # a deployment's choice
    explicit = plan({**BODY, "anonymize": False}, api_default_anonymize=True)
    assert explicit.anonymize is False


def test_the_old_floor_field_is_refused_with_what_replaced_it() -> None:
    with pytest.raises(ValidationError, match=r"minPsnr .* was replaced by minPsnrDb"):
        JobRequest.model_validate({**BODY, "minPsnr": 40})


def test_a_rate_with_a_lossless_codec_is_refused_on_the_rate() -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan({**BODY, "codec": "j2k-lossless", "compressionRate": 10})
    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("compressionRate", "rate_with_lossless")
    ]


def test_each_field_with_a_foreign_bucket_is_named() -> None:
    body = {"s3SourceUri": "s3://elsewhere/in", "s3TargetUri": "s3://other-bucket/out"}
    with pytest.raises(InvalidRequest) as caught:
        plan(body)
    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("s3SourceUri", "bucket_not_allowed"),
        ("s3TargetUri", "bucket_not_allowed"),
    ]


def test_another_tenants_prefix_is_forbidden_for_each_field() -> None:
    body = {
        "s3SourceUri": "s3://dicompress-data/globex/in",
        "s3TargetUri": "s3://dicompress-data/acme-x/o",
    }
    with pytest.raises(ForbiddenLocation) as caught:
        plan(body)
    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("s3SourceUri", "prefix_not_allowed"),
        ("s3TargetUri", "prefix_not_allowed"),
    ]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"compressionRate": 1}, "compressionRate", "greater_than"),
        ({"compressionRate": 1000.5}, "compressionRate", "less_than_equal"),
        ({"compressionRate": "50"}, "compressionRate", "float_type"),
        ({"anonymize": "yes"}, "anonymize", "bool_type"),
        ({"s3SourceUri": "s3://dicompress-data/acme/../b"}, "s3SourceUri", "s3_uri"),
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
