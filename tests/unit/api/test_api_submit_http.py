"""POST /jobs rules at the HTTP edge, with fake adapters: Idempotency-Key, full queue, tenant
prefixes, empty sources, body size and rate limits. The real backends: tests/integration/api."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from api_app import serving
from api_fakes import SECRET, FakeKeys, FakePublisher, FakeSources, FakeStats, FakeStore

from dicompress_api.app import create_app
from dicompress_api.jobs.queue import TenantLoad
from dicompress_api.settings import ApiSettings
from dicompress_schemas import Lane

BODY = {
    "s3SourceUri": "s3://dicompress-data/acme/in/ct1",
    "s3TargetUri": "s3://dicompress-data/acme/out",
}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_a_retry_with_the_key_returns_the_same_job_and_publishes_once(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher
) -> None:
    headers = {**auth, "Idempotency-Key": "order-17"}
    first = await client.post("/jobs", json=BODY, headers=headers)
    again = await client.post("/compress-dicom", json=BODY, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200), again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["idempotencyKey"] == "order-17"
    assert len(publisher.events) == 1
    other = await client.post("/jobs", json=BODY, headers={**auth, "Idempotency-Key": "order-18"})
    assert other.status_code == 202
    assert other.json()["jobId"] != first.json()["jobId"]


async def test_the_same_key_with_another_body_is_409(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher
) -> None:
    headers = {**auth, "Idempotency-Key": "k1"}
    assert (await client.post("/jobs", json=BODY, headers=headers)).status_code == 202
    changed = await client.post("/jobs", json={**BODY, "compressionRate": 20}, headers=headers)
    assert problem(changed, 409)["type"].endswith("idempotency-key")
    # Defaults filled in: spelling out a default is the same request.
    same = await client.post("/jobs", json={**BODY, "anonymize": False}, headers=headers)
    assert same.status_code == 200
    assert len(publisher.events) == 1


async def test_a_failed_publish_frees_the_key_for_the_retry(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher, keys: FakeKeys
) -> None:
    headers = {**auth, "Idempotency-Key": "k2"}
    publisher.unavailable = "broker away"
    problem(await client.post("/jobs", json=BODY, headers=headers), 503)
    assert keys.records == {}
    publisher.unavailable = None
    assert (await client.post("/jobs", json=BODY, headers=headers)).status_code == 202
    assert len(publisher.events) == 1


async def test_a_key_still_being_published_elsewhere_is_409_with_retry_after(
    client: httpx.AsyncClient, auth: dict[str, str], keys: FakeKeys
) -> None:
    headers = {**auth, "Idempotency-Key": "k3"}
    assert (await client.post("/jobs", json=BODY, headers=headers)).status_code == 202
    record = keys.records[("acme", "k3")]
    keys.records[("acme", "k3")] = type(record)(
        record.fingerprint, record.job_id, record.response, published=False
    )
    busy = await client.post("/jobs", json=BODY, headers=headers)
    assert problem(busy, 409)
    assert busy.headers["retry-after"] == "1"


async def test_a_claim_whose_request_died_is_taken_over_by_its_retry(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher, keys: FakeKeys
) -> None:
    first = await client.post("/jobs", json=BODY, headers={**auth, "Idempotency-Key": "k4"})
    assert first.status_code == 202
    # as if its request had died between the claim and the broker's ack, long ago
    record = keys.records[("acme", "k4")]
    publisher.events.clear()
    keys.records[("acme", "k4")] = type(record)(
        record.fingerprint, record.job_id, record.response, published=False, abandoned=True
    )
    headers = {**auth, "Idempotency-Key": "k4"}
    other = await client.post("/jobs", json={**BODY, "compressionRate": 20}, headers=headers)
    assert problem(other, 409)  # another request under the key is no take-over
    taken = await client.post("/jobs", json=BODY, headers=headers)
    assert taken.status_code == 202, taken.text
    assert taken.json()["jobId"] == first.json()["jobId"]  # the job it promised, published now
    assert [e.job_id for e in publisher.events] == [record.job_id]
    assert keys.records[("acme", "k4")].published
    again = await client.post("/jobs", json=BODY, headers=headers)
    assert again.status_code == 200
    assert len(publisher.events) == 1


async def test_a_full_queue_is_503_with_retry_after_and_publishes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher, stats: FakeStats
) -> None:
    stats.queued = 200  # the default API_MAX_QUEUE_LENGTH
    full = await client.post("/jobs", json=BODY, headers=auth)
    assert problem(full, 503)["type"].endswith("queue-full")
    assert full.headers["retry-after"] == "30"
    assert publisher.events == []
    stats.queued = 199
    assert (await client.post("/jobs", json=BODY, headers=auth)).status_code == 202


async def test_a_job_waits_in_the_lane_it_asks_for_interactive_unless_batch(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher
) -> None:
    default = await client.post("/jobs", json=BODY, headers=auth)
    batch = await client.post("/jobs", json={**BODY, "priority": "batch"}, headers=auth)
    assert (default.json()["priority"], batch.json()["priority"]) == ("interactive", "batch")
    assert publisher.lanes == [Lane.INTERACTIVE, Lane.BATCH]


async def test_requests_made_at_once_are_published_in_the_order_of_their_requested_at(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher, sources: FakeSources
) -> None:
    slow = "s3://dicompress-data/acme/in/slow"
    sources.slow[slow] = 0.3  # its listing takes longer: posted first, ready last
    first = asyncio.create_task(
        client.post("/jobs", json={**BODY, "s3SourceUri": slow}, headers=auth)
    )
    await asyncio.sleep(0.05)
    second = await client.post("/jobs", json=BODY, headers=auth)
    answers = [(await first).json(), second.json()]

    published = [(str(e.job_id), e.occurred_at) for e in publisher.events]
    assert [job for job, _ in published] == [answers[1]["jobId"], answers[0]["jobId"]]
    # stamped (the requestedAt GET /jobs/{id} answers) in the order they were published: the
    # order a worker serves them in, and GET /queue places them in
    assert published[0][1] < published[1][1]


async def test_a_clinics_own_limits_are_429_naming_them_and_the_way_out(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher, stats: FakeStats
) -> None:
    stats.load["acme"] = TenantLoad(active=5, interactive=3)  # the default interactive limit
    full = problem(await client.post("/jobs", json=BODY, headers=auth), 429)
    assert full["type"].endswith("tenant-limit")
    assert "3 interactive jobs" in full["detail"]
    assert '"priority": "batch"' in full["detail"]
    assert publisher.events == []
    # the batch lane still takes it
    batch = await client.post("/jobs", json={**BODY, "priority": "batch"}, headers=auth)
    assert batch.status_code == 202
    stats.load["acme"] = TenantLoad(active=100, interactive=0)  # API_MAX_ACTIVE_PER_TENANT
    refused = await client.post("/jobs", json={**BODY, "priority": "batch"}, headers=auth)
    assert "100 jobs waiting or running" in problem(refused, 429)["detail"]
    assert refused.headers["retry-after"] == "30"
    assert publisher.lanes == [Lane.BATCH]


async def test_foreign_prefix_is_403_and_empty_source_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher, sources: FakeSources
) -> None:
    foreign = {**BODY, "s3SourceUri": "s3://dicompress-data/globex/in"}
    denied = problem(await client.post("/jobs", json=foreign, headers=auth), 403)
    assert [(e["field"], e["rule"]) for e in denied["errors"]] == [
        ("s3SourceUri", "prefix_not_allowed")
    ]
    sources.empty.add(BODY["s3SourceUri"])
    empty = problem(await client.post("/jobs", json=BODY, headers=auth), 422)
    assert [(e["field"], e["rule"]) for e in empty["errors"]] == [("s3SourceUri", "no_objects")]
    codec = problem(await client.post("/jobs", json={**BODY, "codec": "jpeg"}, headers=auth), 422)
    assert [e["field"] for e in codec["errors"]] == ["codec"]
    assert publisher.events == []


async def test_a_body_over_the_limit_is_413_declared_or_streamed(
    client: httpx.AsyncClient, auth: dict[str, str], publisher: FakePublisher
) -> None:
    big = {**BODY, "outputFilename": "x" * (70 * 1024)}
    problem(await client.post("/jobs", json=big, headers=auth), 413)

    def chunks() -> Iterator[bytes]:
        yield b'{"s3SourceUri": "'
        for _ in range(70):
            yield b"a" * 1024

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks():
            yield chunk

    problem(await client.post("/jobs", content=stream(), headers=auth), 413)
    assert publisher.events == []


@pytest.fixture
def limited_settings() -> ApiSettings:
    return ApiSettings(jwt_secret=SECRET, api_rate_limit_per_s=0.01, api_rate_limit_burst=2)


async def test_a_tenant_over_its_rate_gets_429_and_others_do_not(
    limited_settings: ApiSettings, store: FakeStore, auth: dict[str, str]
) -> None:
    app = create_app(
        limited_settings,
        publisher=FakePublisher(),
        store=store,
        sources=FakeSources(),
        stats=FakeStats(),
        keys=FakeKeys(),
    )
    async with serving(app) as http:
        answers = [(await http.get("/jobs", headers=auth)).status_code for _ in range(3)]
        assert answers == [200, 200, 429]
        refused = await http.get("/queue", headers=auth)
        assert int(problem(refused, 429)["status"]) == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert (await http.get("/healthz")).status_code == 200  # probes are not limited


async def test_benchmark_is_not_read_as_a_job_id(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    summary = await client.get("/compress-dicom/benchmark", headers=auth)
    assert summary.status_code == 200, summary.text
    assert summary.json() == {"groups": []}
