"""The artifact's name: the folder reduction, the default pattern, the collision order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dicompress_schemas import Codec, CompressionRequested
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.naming import candidates, default_name, folder_label, source_label


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("ct_study@v2.1/", "ct-studyv21"),  # the design's own example
        ("studies/ct-1/", "ct-1"),  # the last folder only
        ("a/b/Thorax CT  2024/", "Thorax-CT-2024"),  # spaces become one hyphen
        ("x/Études_Crâne/", "Etudes-Crane"),  # accents lose their marks
        ("x/__--weird--__/", "weird"),  # no leading, trailing or doubled hyphens
        ("x/@@@/", "compressed"),  # nothing left
        ("", "compressed"),  # the bucket's root
        ("x/日本/", "compressed"),  # no ASCII letter survives
        ("x/" + "a" * 49 + "_b" + "c" * 10 + "/", "a" * 49),  # 50 at most, no trailing '-'
        ("x/" + "7" * 80, "7" * 50),  # a prefix without a trailing slash
    ],
)
def test_folder_label(key: str, label: str) -> None:
    assert folder_label(key) == label
    assert len(label) <= 50


def _request(**overrides: object) -> CompressionRequested:
    fields: dict[str, object] = {
        "source_uri": "s3://bucket/ct_study@v2.1/",
        "target_uri": "s3://bucket/out/",
        "compression_rate": 100.0,
        # 01:02:03 in UTC+2 is 23:02:03 UTC the day before: the name uses UTC
        "occurred_at": datetime(2026, 3, 1, 1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
    }
    return JobHistory(tenant="acme").requested(**(fields | overrides))


def test_default_name_uses_the_rate_and_the_requests_utc_time() -> None:
    request = _request()
    assert default_name(request, "ct_study@v2.1/") == "ct-studyv21-rate100-20260228-230203.zip"
    fractional = _request(compression_rate=12.5)
    assert default_name(fractional, "s/") == "s-rate12.5-20260228-230203.zip"
    assert request.occurred_at.tzinfo == UTC


def test_default_name_of_a_lossless_codec() -> None:
    request = _request(codec=Codec.J2K_LOSSLESS, compression_rate=None)
    assert default_name(request, "") == "compressed-lossless-20260228-230203.zip"


def test_candidates_number_before_the_extension() -> None:
    assert list(itertools.islice(candidates("a.zip"), 4)) == [
        "a.zip", "a-1.zip", "a-2.zip", "a-3.zip"
    ]  # fmt: skip
    assert list(itertools.islice(candidates("v1.2.zip"), 2)) == ["v1.2.zip", "v1.2-1.zip"]
    assert list(itertools.islice(candidates("noext"), 2)) == ["noext", "noext-1"]


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("acme/studies/1.2.840.113619.2.55/", "study"),
        ("acme/studies/1.2.840.113619.2.55", "study"),
        ("acme/studies/1.2.840.113619.2.55/1.2.840.113619.2.55.3/", "series"),
        ("acme/studies/ct-head/", "ct-head"),  # a folder a clinic named, not our layout
        ("acme/sources/chest/", "chest"),
    ],
)
def test_an_ingested_study_or_series_is_named_for_what_it_is(key: str, label: str) -> None:
    assert source_label(key) == label
