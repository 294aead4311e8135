"""The API against the real broker and Postgres: publish, read, tenant filter, 401/422/503."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaError
from api_live import bearer, end_offsets, read_request, serve

from dicompress_api.adapters.kafka_publisher import discard
from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.kafka import make_producer
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import CompressionRequested, Topics, new_event_id

pytestmark = pytest.mark.integration


def dead_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def body(bucket: str, **fields: Any) -> dict[str, Any]:
    """A request of tenant acme (whose default prefix is `acme/`) for the series `put_series`
    stores."""
    return {
        "s3SourceUri": f"s3://{bucket}/acme/in/ct1",
        "s3TargetUri": f"s3://{bucket}/acme/out",
        **fields,
    }


def put_series(settings: ApiSettings, bucket: str) -> None:
    client = make_s3_client(settings)
    try:
        for name in ("1.dcm", "2.dcm"):
            client.put_object(Bucket=bucket, Key=f"acme/in/ct1/{name}", Body=b"x" * 10)
    finally:
        client.close()


async def test_post_publishes_a_decodable_request(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    put_series(settings, bucket)
    response = await api.post(
        "/jobs",
        json=body(bucket, compressionRate=50, outputFilename="ct1"),
        headers=bearer(settings, "acme"),
    )
    assert response.status_code == 202, response.text
    job_id = uuid.UUID(response.json()["jobId"])
    assert response.headers["location"] == f"/jobs/{job_id}"
    assert response.json()["artifactUri"] == f"s3://{bucket}/acme/out/ct1.zip"
    assert response.json()["source"] == {"fileCount": 2, "totalBytes": 20}

    record, event = await read_request(
        settings.kafka_bootstrap_servers, settings.topics.interactive, job_id
    )
    assert isinstance(event, CompressionRequested)
    assert (event.job_id, event.seq, event.event_id) == (job_id, 0, new_event_id(job_id, 0))
    assert (event.tenant, event.compression_rate) == ("acme", 50)
    assert event.source_uri == f"s3://{bucket}/acme/in/ct1"
    assert event.output_filename == "ct1.zip"
    assert dict(record.headers)["type"] == b"CompressionRequested"
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 1


async def test_get_reads_the_projection_for_its_tenant_only(
    api: httpx.AsyncClient, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job_id = uuid.uuid4()
    requested = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    await database.execute(
        """INSERT INTO jobs (job_id, tenant, status, source_uri, slices_total, slices_done,
                             slices_failed, bytes_in, encode_ms, requested_at, updated_at)
           VALUES ($1, 'acme', 'running', 's3://b/in', 10, 4, 1, 123456, 250.5, $2, $2)""",
        job_id,
        requested,
    )
    response = await api.get(f"/jobs/{job_id}", headers=bearer(settings, "acme"))
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["jobId"] == str(job_id)
    assert (view["status"], view["slicesDone"], view["slicesTotal"]) == ("running", 4, 10)
    assert view["progress"] == 0.5
    assert view["bytesIn"] == 123456
    assert view["timings"]["encodeMs"] == 250.5
    assert view["timestamps"]["requestedAt"] == "2025-06-01T12:00:00Z"

    other = await api.get(f"/jobs/{job_id}", headers=bearer(settings, "globex"))
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"/jobs/{job_id}")).status_code == 401
    assert (await api.get("/jobs/123", headers=bearer(settings, "acme"))).status_code == 422


async def test_bad_requests_are_refused_and_publish_nothing(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    auth = bearer(settings, "acme")
    cases = [
        (body(bucket, compressionRate=0), "compressionRate"),
        (body(bucket, compressionRate=5000), "compressionRate"),
        (body(bucket, s3SourceUri=f"s3://{bucket}/acme/../secret"), "s3SourceUri"),
        (body(bucket, s3TargetUri="s3://not-our-bucket/out"), "s3TargetUri"),
        (body(bucket, outputFilename="../x"), "outputFilename"),
        (body(bucket, callbackUrl="http://x"), "callbackUrl"),
    ]
    for payload, field in cases:
        response = await api.post("/jobs", json=payload, headers=auth)
        assert response.status_code == 422, (payload, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    unauthenticated = await api.post("/jobs", json=body(bucket))
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
    assert await end_offsets(settings.kafka_bootstrap_servers, settings.topics.interactive) == 0


async def test_unreachable_broker_means_503_and_no_job(
    settings_for: Callable[..., ApiSettings],
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
    backends: Any,
) -> None:
    settings = settings_for(
        ApiSettings,
        kafka_bootstrap_servers=f"127.0.0.1:{dead_port()}",
        api_publish_timeout_s=1.0,
        api_allowed_buckets=[test_env["S3_BUCKET"]],
    )
    put_series(settings, test_env["S3_BUCKET"])
    async for api in serve(create_app(settings)):
        assert (await api.get("/healthz")).status_code == 200
        ready = await api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"] == "ok"
        assert ready.json()["checks"]["kafka"].startswith("kafka: not connected")

        # the publish gives up after api_publish_timeout_s: a 503, not a request left hanging
        response = await api.post(
            "/jobs", json=body(test_env["S3_BUCKET"]), headers=bearer(settings, "acme")
        )
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        assert response.headers["content-type"] == "application/problem+json"
        assert "location" not in response.headers
    topic = Topics(prefix=test_env["TOPIC_PREFIX"]).requests
    assert await end_offsets(backends.kafka_bootstrap, topic) == 0
    assert await database.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_discarded_producer_never_delivers_what_it_held(
    test_env: dict[str, str], backends: Any
) -> None:
    """What KafkaPublisher relies on after a timeout, checked against aiokafka and the broker."""
    topic = Topics(prefix=test_env["TOPIC_PREFIX"]).requests
    producer = make_producer(backends.kafka_bootstrap)
    await producer.start()
    await producer.partitions_for(topic)  # metadata cached: send() below queues without yielding
    queued = await producer.send(topic, b"must never land", key=b"k")
    await discard(producer)
    with pytest.raises(KafkaError):
        await queued
    assert await end_offsets(backends.kafka_bootstrap, topic) == 0
