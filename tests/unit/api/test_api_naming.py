import uuid

import pytest

from dicompress_api.naming import UnsafeFilename, artifact_uri, output_filename
from dicompress_infra.s3 import S3Uri


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


def test_artifact_goes_under_the_target_prefix() -> None:
    job = uuid.UUID("00000000-0000-4000-8000-000000000001")
    target = S3Uri.parse("s3://dicompress-data/out")
    assert artifact_uri(target, job, None) == f"s3://dicompress-data/out/{job}.zip"
    assert artifact_uri(target, job, "a.zip") == "s3://dicompress-data/out/a.zip"
    bare = S3Uri.parse("s3://dicompress-data")
    assert artifact_uri(bare, job, "a.zip") == "s3://dicompress-data/a.zip"
