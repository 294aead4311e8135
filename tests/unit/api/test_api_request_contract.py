"""Whatever body the API's request model accepts becomes a valid CompressionRequested.

Property-based: hypothesis writes bodies whose URIs and file names are near misses of good ones
(a newline, a control character, a backslash, '..', a foreign bucket, any Unicode appended or
inserted). Each body either is refused by the request model or a location rule (a 422 or 403),
or it plans an event that validates against the contract and round-trips through the codec;
nothing else (no exception the API would answer with a 500).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dicompress_api.jobs.sources import SourceInfo
from dicompress_api.jobs.submission import JobRequest, SubmitPolicy, accepted, plan_job
from dicompress_api.settings import ApiSettings
from dicompress_api.web.errors import ForbiddenLocation, InvalidRequest
from dicompress_schemas import CompressionRequested, decode_event, encode_event

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
POLICY = SubmitPolicy.of(ApiSettings(api_allowed_buckets=["dicompress-data", "other-data"]))
JOB = uuid.UUID("00000000-0000-4000-8000-0000000000bb")

# The characters that broke the rules before: control characters (newline, CR, tab, NUL, DEL,
# C1), separators and dots, plus any other character at all.
_TRICKY = st.sampled_from(
    ["\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\x85", "\u2028", "\\", "/", ".", "..", " ", "%"]
)
_FRAGMENT = st.lists(_TRICKY | st.characters(), max_size=6).map("".join)
_GOOD_URIS = st.sampled_from(
    [
        "s3://dicompress-data/acme/in/ct1",
        "s3://dicompress-data/acme/out/",
        "s3://dicompress-data/acme",
        "s3://other-data/acme/x.y/",
        "s3://not-allowed/acme/in",
    ]
)
_GOOD_NAMES = st.sampled_from(["ct1", "ok.zip", "Series_1.v2", "x" * 124, "a-b"])


@st.composite
def near_miss(draw: st.DrawFn, good: st.SearchStrategy[str]) -> str:
    """A good value with something added at its end, its start or inside, or as it is."""
    value = draw(good)
    extra = draw(_FRAGMENT)
    where = draw(st.sampled_from(["end", "start", "inside", "none", "none"]))
    if where == "end":
        return value + extra
    if where == "start":
        return extra + value
    if where == "inside":
        cut = draw(st.integers(min_value=0, max_value=len(value)))
        return value[:cut] + extra + value[cut:]
    return value


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "s3SourceUri": draw(near_miss(_GOOD_URIS)),
        "s3TargetUri": draw(near_miss(_GOOD_URIS)),
    }
    if draw(st.booleans()):
        body["outputFilename"] = draw(near_miss(_GOOD_NAMES))
    if draw(st.booleans()):
        body["codec"] = draw(st.sampled_from(["j2k-lossy", "htj2k-lossy", "j2k-lossless"]))
    if draw(st.booleans()) and body.get("codec") != "j2k-lossless":
        body["compressionRate"] = draw(st.floats(min_value=0, max_value=2000))
    if draw(st.booleans()):
        body["minPsnrDb"] = draw(st.floats(min_value=-1, max_value=300))
    return body


def submitted(body: dict[str, Any]) -> CompressionRequested | None:
    """The event the API would publish for `body` (as it arrives: JSON), or None where the API
    refuses it with a 4xx. Any other exception escapes (it would be a 500)."""
    # FastAPI hands the request model the parsed JSON, as here
    try:
        request = JobRequest.model_validate(orjson.loads(orjson.dumps(body)))
    except ValidationError:
        return None  # 422 naming the fields
    try:
        return plan_job(request, tenant="acme", job_id=JOB, policy=POLICY)
    except (InvalidRequest, ForbiddenLocation):
        return None  # 422 / 403


IN, OUT = "s3://dicompress-data/acme/in", "s3://dicompress-data/acme/out"


@PROPERTY
@given(bodies())
# the bodies of issue 16: a 500 for the URIs, a 202 and a failed job for the name
@example({"s3SourceUri": IN + "\n", "s3TargetUri": OUT})
@example({"s3SourceUri": IN, "s3TargetUri": OUT + "\n"})
@example({"s3SourceUri": IN, "s3TargetUri": OUT, "outputFilename": "ok.zip\n"})
def test_every_accepted_body_becomes_a_valid_event(body: dict[str, Any]) -> None:
    event = submitted(body)
    if event is None:
        return
    # it validates as the contract's model, from what goes on the wire
    wire = encode_event(event)
    assert CompressionRequested.model_validate_json(wire) == event
    assert decode_event(wire) == event
    # what the API answers with names the same things
    answer = accepted(event, SourceInfo(file_count=1, total_bytes=1))
    assert answer.source_uri == body["s3SourceUri"]
    assert answer.target_uri == body["s3TargetUri"]
    assert answer.artifact_uri.startswith(body["s3TargetUri"].rstrip("/") + "/")


def test_the_issue_16_bodies_are_refused_by_the_request_model_naming_the_field() -> None:
    """The property above only says they are not published; this says how they are refused."""
    base = {"s3SourceUri": "s3://dicompress-data/acme/in", "s3TargetUri": "s3://dicompress-data/o"}
    cases = {
        "s3SourceUri": {**base, "s3SourceUri": "s3://dicompress-data/acme/in\n"},
        "s3TargetUri": {**base, "s3TargetUri": "s3://dicompress-data/o\x01"},
        "outputFilename": {**base, "outputFilename": "ok.zip\n"},
    }
    for field, body in cases.items():
        try:
            JobRequest.model_validate(body)
        except ValidationError as exc:
            [error] = exc.errors()
            assert error["loc"] == (field,)
            assert error["type"] in {"s3_uri", "unsafe_filename"}
        else:
            raise AssertionError(f"{field}: {body[field]!r} was accepted")
