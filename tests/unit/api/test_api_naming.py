import uuid
from datetime import UTC, datetime

import pytest

from dicompress_api.naming import UnsafeFilename, output_filename, planned_artifact
from dicompress_schemas import CompressionRequested, new_event_id


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("series-1", "series-1.zip"),
        ("Series_1.v2", "Series_1.v2.zip"),
        ("out.zip", "out.zip"),
        ("OUT.ZIP", "OUT.ZIP"),
        ("x" * 124, "x" * 124 + ".zip"),
    ],
)
def test_accepted_names_get_a_zip_suffix(name: str, expected: str) -> None:
    assert output_filename(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/b",
        "a\\b",
        ".hidden",
        "..",
        "a..b",
        "with space",
        "tab\tname",
        "new\nline",
        "",
        "é.zip",
        "x" * 125,  # 129 characters once '.zip' is added
    ],
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeFilename):
        output_filename(name)


def request(target: str, filename: str | None, **fields: object) -> CompressionRequested:
    job = uuid.UUID("00000000-0000-4000-8000-000000000001")
    return CompressionRequested(
        event_id=new_event_id(job, 0),
        job_id=job,
        tenant="acme",
        seq=0,
        occurred_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
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
