"""The HTTP edge with fake adapters: status codes, problem details, auth, tenant filtering."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_fakes import FakePublisher, FakeStore

from dicompress_infra.auth import issue_token

BODY = {
    "s3SourceUri": "s3://dicompress-data/acme/in/ct1",
    "s3TargetUri": "s3://dicompress-data/acme/out",
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    return problem


async def test_post_publishes_and_answers_202_with_location(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher
) -> None:
    response = await client.post("/jobs", json={**BODY, "outputFilename": "ct1"}, headers=auth)
    assert response.status_code == 202, response.text
    body = response.json()
    job_id = uuid.UUID(body["jobId"])
    assert body["status"] == "queued"
    assert body["statusUrl"] == f"/jobs/{job_id}"
    assert response.headers["location"] == f"/jobs/{job_id}"
    assert body["artifactUri"] == "s3://dicompress-data/acme/out/ct1.zip"
    assert body["options"] == {
        "compressionRate": 100.0,
        "codec": "j2k-lossy",
        "anonymize": False,
        "outputFilename": "ct1.zip",
        "overwriteExisting": False,
        "minPsnrDb": 30.0,
        "includeNonImage": True,
    }
    assert body["source"] == {"fileCount": 3, "totalBytes": 3000}
    assert (body["sourceUri"], body["targetUri"]) == (BODY["s3SourceUri"], BODY["s3TargetUri"])
    [event] = publisher.events
    assert (event.job_id, event.tenant, event.seq) == (job_id, "acme", 0)


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"compressionRate": 0}, "compressionRate", "greater_than"),
        ({"compressionRate": 5000}, "compressionRate", "less_than_equal"),
        ({"s3SourceUri": "s3://dicompress-data/x/../y"}, "s3SourceUri", "s3_uri"),
        ({"s3TargetUri": "s3://not-allowed/out"}, "s3TargetUri", "bucket_not_allowed"),
        ({"outputFilename": "../x"}, "outputFilename", "unsafe_filename"),
        ({"urgency": "high"}, "urgency", "extra_forbidden"),
        ({"priority": "high"}, "priority", "enum"),
        ({"s3SourceUri": None}, "s3SourceUri", "one_source"),
        ({"studyId": "00000000-0000-4000-8000-000000000001"}, "studyId", "one_source"),
        ({"seriesUid": "1.2.3"}, "seriesUid", "series_without_study"),
        ({"seriesUid": "1.2.x"}, "seriesUid", "string_pattern_mismatch"),
    ],
)
async def test_bad_fields_are_422_problems_naming_field_and_rule(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    publisher: FakePublisher,
    change: dict[str, object],
    field: str,
    rule: str,
) -> None:
    response = await client.post("/jobs", json={**BODY, **change}, headers=auth)
    problem = assert_problem(response, 422)
    assert {"field": field, "rule": rule} in [
        {"field": e["field"], "rule": e["rule"]} for e in problem["errors"]
    ]
    assert field in problem["detail"]
    assert publisher.events == []


async def test_missing_fields_and_non_json_are_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    missing = assert_problem(await client.post("/jobs", json={}, headers=auth), 422)
    # the source is a choice (s3SourceUri or studyId), checked once the fields are valid
    assert {e["field"] for e in missing["errors"]} == {"s3TargetUri"}
    no_source = {"s3TargetUri": "s3://dicompress-data/acme/out"}
    neither = assert_problem(await client.post("/jobs", json=no_source, headers=auth), 422)
    assert {e["field"] for e in neither["errors"]} == {"s3SourceUri", "studyId"}
    not_json = await client.post(
        "/jobs", content=b"{nope", headers={**auth, "content-type": "application/json"}
    )
    assert assert_problem(not_json, 422)["errors"][0]["rule"] == "json_invalid"
    nan = await client.post(
        "/jobs",
        content=b'{"s3SourceUri": "s3://dicompress-data/a", "s3TargetUri": '
        b'"s3://dicompress-data/b", "compressionRate": NaN}',
        headers={**auth, "content-type": "application/json"},
    )
    assert_problem(nan, 422)


async def test_no_or_bad_token_is_401_with_a_challenge(
    client: httpx.AsyncClient, settings: Any
) -> None:
    missing = assert_problem(await client.post("/jobs", json=BODY), 401)
    assert missing["detail"].startswith("missing bearer token")
    bad = await client.get(f"/jobs/{uuid.uuid4()}", headers={"Authorization": "Bearer x.y.z"})
    assert_problem(bad, 401)
    assert bad.headers["www-authenticate"] == 'Bearer realm="dicompress", error="invalid_token"'
    wrong_key = issue_token("another-secret-0123456789abcdef0123", "acme", settings.jwt_audience)
    response = await client.post(
        "/jobs", json=BODY, headers={"Authorization": f"Bearer {wrong_key}"}
    )
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_broker_unavailable_is_503_with_retry_after(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher
) -> None:
    publisher.unavailable = "Kafka did not acknowledge the job within 10 s"
    response = await client.post("/jobs", json=BODY, headers=auth)
    problem = assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0
    assert "Kafka" in problem["detail"]
    assert "location" not in response.headers


def row(job_id: uuid.UUID, tenant: str, **fields: Any) -> dict[str, Any]:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    return {
        "job_id": job_id,
        "tenant": tenant,
        "status": "running",
        "slices_total": 4,
        "slices_done": 2,
        "slices_failed": 1,
        "requested_at": now,
        "updated_at": now,
        **fields,
    }


async def test_get_shows_own_job_and_hides_other_tenants(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore
) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    store.rows[mine] = row(mine, "acme", bytes_in=1000, encode_ms=12.5)
    store.rows[theirs] = row(theirs, "globex")
    response = await client.get(f"/jobs/{mine}", headers=auth)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["jobId"] == str(mine)
    assert (view["slicesDone"], view["slicesFailed"], view["slicesTotal"]) == (2, 1, 4)
    assert view["progress"] == 0.75
    assert view["bytesIn"] == 1000
    assert view["timings"]["encodeMs"] == 12.5
    assert view["timestamps"]["requestedAt"] == "2025-01-02T03:04:05Z"
    assert "tenant" not in view
    other = assert_problem(await client.get(f"/jobs/{theirs}", headers=auth), 404)
    absent = assert_problem(await client.get(f"/jobs/{uuid.uuid4()}", headers=auth), 404)
    assert other["type"] == absent["type"]


async def test_database_down_is_503_with_retry_after(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore
) -> None:
    store.down = "the job database did not answer: connection refused"
    response = await client.get(f"/jobs/{uuid.uuid4()}", headers=auth)
    assert "database" in assert_problem(response, 503)["detail"]
    assert int(response.headers["retry-after"]) > 0


async def test_non_uuid_job_id_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    problem = assert_problem(await client.get("/jobs/not-a-uuid", headers=auth), 422)
    assert problem["errors"][0]["field"] == "job_id"
    assert problem["errors"][0]["in"] == "path"


async def test_health_and_readiness(
    client: httpx.AsyncClient, publisher: FakePublisher, store: FakeStore
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": "ok", "postgres": "ok", "s3": "ok"}
    store.down = "postgres: connection refused"
    problem = assert_problem(await client.get("/readyz"), 503)
    assert problem["checks"] == {
        "kafka": "ok",
        "postgres": "postgres: connection refused",
        "s3": "ok",
    }


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404)
    assert_problem(await client.delete("/healthz"), 405)
