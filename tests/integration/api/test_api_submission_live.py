"""POST /jobs rules against the real broker, Postgres and S3: idempotency across API
instances, source info, tenant prefixes, the queue limit, body size and rate limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from api_live import bearer, end_offsets, serve, wait_until_ready

from dicompress_api.adapters.database import Database
from dicompress_api.adapters.idempotency import PostgresKeys
from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.s3 import make_s3_client

pytestmark = pytest.mark.integration


def put_series(settings: ApiSettings, bucket: str, prefix: str, sizes: list[int]) -> None:
    client = make_s3_client(settings)
    try:
        client.put_object(Bucket=bucket, Key=prefix, Body=b"")  # a folder marker: not a file
        for i, size in enumerate(sizes):
            client.put_object(Bucket=bucket, Key=f"{prefix}{i:03d}.dcm", Body=b"d" * size)
    finally:
        client.close()


def body(bucket: str, **fields: Any) -> dict[str, Any]:
    return {
        "s3SourceUri": f"s3://{bucket}/acme/ct1/",
        "s3TargetUri": f"s3://{bucket}/acme/out/",
        **fields,
    }


async def test_post_answers_source_info_target_and_options_at_once(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    put_series(settings, bucket, "acme/ct1/", [100, 250, 50])
    put_series(settings, bucket, "acme/ct10/", [7])  # a sibling prefix must not be counted
    answer = await api.post(
        "/compress-dicom", json=body(bucket, compressionRate=20), headers=bearer(settings, "acme")
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["source"] == {"fileCount": 3, "totalBytes": 400}
    assert job["targetUri"] == f"s3://{bucket}/acme/out/"
    assert job["artifactUri"].startswith(f"s3://{bucket}/acme/out/ct1-rate20-")
    assert job["options"] == {
        "compressionRate": 20.0,
        "codec": "j2k-lossy",
        "anonymize": False,
        "outputFilename": None,
        "overwriteExisting": False,
        "minPsnrDb": 30.0,  # the default floor of a lossy job (README: Quality floor)
        "includeNonImage": True,
    }

    empty = await api.post(
        "/jobs",
        json=body(bucket, s3SourceUri=f"s3://{bucket}/acme/nothing-here/"),
        headers=bearer(settings, "acme"),
    )
    assert empty.status_code == 422, empty.text
    assert [(e["field"], e["rule"]) for e in empty.json()["errors"]] == [
        ("s3SourceUri", "no_objects")
    ]
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 1


async def test_another_tenants_prefix_is_403_and_publishes_nothing(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    put_series(settings, bucket, "globex/ct1/", [10])
    cases = [
        ("s3SourceUri", body(bucket, s3SourceUri=f"s3://{bucket}/globex/ct1/")),
        ("s3TargetUri", body(bucket, s3TargetUri=f"s3://{bucket}/globex/out/")),
        ("s3TargetUri", body(bucket, s3TargetUri=f"s3://{bucket}/acme-evil/out/")),
        ("s3SourceUri", body(bucket, s3SourceUri=f"s3://{bucket}/acme/%2e%2e/globex/ct1/")),
    ]
    for field, payload in cases:
        denied = await api.post("/jobs", json=payload, headers=bearer(settings, "acme"))
        assert denied.status_code == 403, (payload, denied.text)
        assert denied.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in denied.json()["errors"]] == [field]
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 0


async def test_idempotency_key_holds_across_two_api_instances_and_a_race(
    settings: ApiSettings, test_env: dict[str, str], database: asyncpg.Connection[Any]
) -> None:
    bucket = test_env["S3_BUCKET"]
    put_series(settings, bucket, "acme/ct1/", [10, 10])
    async with AsyncExitStack() as stack:
        one, two = [await stack.enter_async_context(_serving(settings)) for _ in range(2)]
        headers = {**bearer(settings, "acme"), "Idempotency-Key": "upload-42"}
        first = await one.post("/jobs", json=body(bucket), headers=headers)
        retry = await two.post("/compress-dicom", json=body(bucket), headers=headers)
        assert (first.status_code, retry.status_code) == (202, 200), retry.text
        assert retry.json() == first.json()

        changed = await two.post("/jobs", json=body(bucket, anonymize=True), headers=headers)
        assert changed.status_code == 409, changed.text
        assert changed.json()["type"].endswith("idempotency-key")
        # Another tenant's identical key is its own.
        globex = {**bearer(settings, "globex"), "Idempotency-Key": "upload-42"}
        put_series(settings, bucket, "globex/ct1/", [10])
        theirs = body(bucket, s3SourceUri=f"s3://{bucket}/globex/ct1/")
        theirs["s3TargetUri"] = f"s3://{bucket}/globex/out/"
        assert (await one.post("/jobs", json=theirs, headers=globex)).status_code == 202

        # Four identical requests at once over both instances: exactly one publishes.
        race = {**bearer(settings, "acme"), "Idempotency-Key": "race-1"}
        answers = await asyncio.gather(
            *(api.post("/jobs", json=body(bucket), headers=race) for api in (one, two) * 2)
        )
        codes = sorted(a.status_code for a in answers)
        assert codes.count(202) == 1, [a.text for a in answers]
        assert set(codes) <= {200, 202, 409}  # 409: the winner was still publishing
        assert len({a.json()["jobId"] for a in answers if a.status_code < 300}) == 1
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 3
    stored = await database.fetch("SELECT idem_key, published FROM api_idempotency ORDER BY 1")
    assert [(r["idem_key"], r["published"]) for r in stored] == [
        ("race-1", True),
        ("upload-42", True),
        ("upload-42", True),
    ]


async def test_a_full_queue_is_503_with_retry_after_and_nothing_published(
    settings_for: Callable[..., ApiSettings],
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
) -> None:
    bucket = test_env["S3_BUCKET"]
    settings = settings_for(
        ApiSettings,
        api_allowed_buckets=[bucket],
        api_max_queue_length=2,
        api_queue_full_retry_after_s=7,
    )
    put_series(settings, bucket, "acme/ct1/", [10])
    for _ in range(2):
        await database.execute(
            "INSERT INTO jobs (job_id, tenant, status) VALUES ($1, 'globex', 'queued')",
            uuid.uuid4(),
        )
    async with _serving(settings) as api:
        full = await api.post("/jobs", json=body(bucket), headers=bearer(settings, "acme"))
        assert full.status_code == 503, full.text
        assert full.headers["retry-after"] == "7"
        assert full.json()["type"].endswith("queue-full")
        queue = (await api.get("/queue", headers=bearer(settings, "acme"))).json()
        assert (queue["queued"], queue["maxQueueLength"], queue["jobs"]) == (2, 2, [])
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 0


async def test_a_clinics_interactive_jobs_are_counted_from_the_lane_they_were_put_in(
    settings_for: Callable[..., ApiSettings],
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
) -> None:
    bucket = test_env["S3_BUCKET"]
    settings = settings_for(
        ApiSettings, api_allowed_buckets=[bucket], api_max_interactive_per_tenant=2
    )
    put_series(settings, bucket, "acme/ct1/", [10])
    put_series(settings, bucket, "globex/ct1/", [10])
    topics = settings.topics
    # acme: two interactive jobs waiting or running, one batch job running, one interactive
    # job ended; only the first two count against its interactive limit
    for status, topic in [
        ("queued", topics.interactive),
        ("running", topics.interactive),
        ("running", topics.requests),
        ("completed", topics.interactive),
    ]:
        job_id = uuid.uuid4()
        await database.execute(
            "INSERT INTO jobs (job_id, tenant, status) VALUES ($1, 'acme', $2)", job_id, status
        )
        await database.execute(
            'INSERT INTO job_events (job_id, seq, event_id, type, topic, partition, "offset", '
            "occurred_at, payload) VALUES ($1, 0, $2, 'CompressionRequested', $3, 0, 0, now(), "
            "'{}')",
            job_id,
            uuid.uuid4(),
            topic,
        )
    async with _serving(settings) as api:
        acme = bearer(settings, "acme")
        refused = await api.post("/jobs", json=body(bucket), headers=acme)
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"].endswith("tenant-limit")
        assert "2 interactive jobs" in refused.json()["detail"]
        batch = await api.post("/jobs", json=body(bucket, priority="batch"), headers=acme)
        assert batch.status_code == 202, batch.text
        globex = {
            "s3SourceUri": f"s3://{bucket}/globex/ct1/",
            "s3TargetUri": f"s3://{bucket}/globex/out/",
        }
        other = await api.post("/jobs", json=globex, headers=bearer(settings, "globex"))
        assert other.status_code == 202, other.text
    bootstrap = settings.kafka_bootstrap_servers
    assert await end_offsets(bootstrap, topics.interactive) == 1  # globex's
    assert await end_offsets(bootstrap, topics.requests) == 1  # acme's batch job


async def test_size_and_rate_limits(
    settings_for: Callable[..., ApiSettings],
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
) -> None:
    settings = settings_for(
        ApiSettings,
        api_allowed_buckets=[test_env["S3_BUCKET"]],
        api_rate_limit_per_s=0.01,
        api_rate_limit_burst=3,
    )
    async with _serving(settings) as api:
        acme = bearer(settings, "acme")
        huge = body(test_env["S3_BUCKET"], outputFilename="x" * 70_000)
        too_big = await api.post("/jobs", json=huge, headers=acme)
        assert too_big.status_code == 413, too_big.text
        assert too_big.headers["content-type"] == "application/problem+json"
        codes = [(await api.get("/jobs", headers=acme)).status_code for _ in range(3)]
        limited = await api.get("/jobs", headers=acme)
        assert codes == [200, 200, 200]  # the 413 was refused before it spent a token
        assert limited.status_code == 429, limited.text
        assert int(limited.headers["retry-after"]) >= 1
        assert (await api.get("/jobs", headers=bearer(settings, "globex"))).status_code == 200
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 0


@asynccontextmanager
async def _serving(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """An API instance of its own (its own producer, pool and rate limiter), ready."""
    async for client in serve(create_app(settings)):
        await wait_until_ready(client)
        yield client


async def test_an_abandoned_claim_is_taken_over_once_in_postgres(
    settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    db = Database(settings.database_url)
    await db.start()
    try:
        keys = PostgresKeys(db, timedelta(hours=1), abandoned_after=timedelta(seconds=30))
        job_id = uuid.uuid4()
        assert await keys.claim("acme", "dead-1", "print", job_id, {"jobId": str(job_id)}) is None
        fresh = await keys.find("acme", "dead-1")
        assert fresh is not None
        assert not fresh.abandoned
        # a fresh claim may still be publishing: nobody takes it over
        assert not await keys.take_over("acme", "dead-1", "print", {"jobId": "x"})
        await database.execute(
            "UPDATE api_idempotency SET created_at = now() - interval '5 minutes' "
            "WHERE idem_key = 'dead-1'"
        )
        stale = await keys.find("acme", "dead-1")
        assert stale is not None
        assert stale.abandoned
        assert stale.job_id == job_id
        assert not await keys.take_over("acme", "dead-1", "other print", {"jobId": "x"})
        # of two retries racing for it, exactly one gets it
        taken = await asyncio.gather(
            *(keys.take_over("acme", "dead-1", "print", {"jobId": str(job_id)}) for _ in "ab")
        )
        assert sorted(taken) == [False, True]
        await keys.published("acme", "dead-1")
        done = await keys.find("acme", "dead-1")
        assert done is not None
        assert done.published
        assert not done.abandoned
    finally:
        await db.close()
