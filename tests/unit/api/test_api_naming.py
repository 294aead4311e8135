import uuid
from datetime import UTC, datetime

from dicompress_api.jobs.naming import planned_artifact
from dicompress_schemas import CompressionRequested
from dicompress_schemas.histories import JobHistory


def request(target: str, filename: str | None, **fields: object) -> CompressionRequested:
    job = uuid.UUID("00000000-0000-4000-8000-000000000001")
    return JobHistory(job, "acme").requested(
        at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        source_uri="s3://dicompress-data/acme/studies/CT_head 1/",
        target_uri=target,
        output_filename=filename,
        **fields,
    )


def test_artifact_goes_under_the_target_prefix_with_the_compressors_default_name() -> None:
    out = "s3://dicompress-data/out"
    default = planned_artifact(request(out, None, compression_rate=12.5))
    assert default == "s3://dicompress-data/out/CT-head-1-rate12.5-20260304-050607.zip"
    lossless = planned_artifact(request(out, None, codec="j2k-lossless"))
    assert lossless == "s3://dicompress-data/out/CT-head-1-lossless-20260304-050607.zip"
    named = planned_artifact(request(out, "a.zip", compression_rate=10))
    assert named == "s3://dicompress-data/out/a.zip"
    bare = planned_artifact(request("s3://dicompress-data", "a.zip", compression_rate=10))
    assert bare == "s3://dicompress-data/a.zip"
