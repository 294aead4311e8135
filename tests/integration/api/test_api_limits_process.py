"""The API's limits through the real server process (issue 19 item 5): `python -m dicompress_api`
under uvicorn, not the ASGI transport, so what the HTTP server does with a body (Content-Length,
chunked transfer) is part of what is tested."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import orjson
import pytest

from dicompress_infra.auth import issue_token
from dicompress_progress.migrate import apply_migrations
from dicompress_stack.testing import ServiceRunner

pytestmark = pytest.mark.integration

MAX_BODY = 2048
BURST = 3


async def migrate(dsn: str) -> None:
    """The progress service's schema: GET /jobs reads the projection."""
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes: a submission with an unknown field `pad`."""
    head = orjson.dumps({"s3SourceUri": "s3://b/acme/in/", "s3TargetUri": "s3://b/acme/out/"})
    shell = head[:-1] + b',"pad":""}'
    return shell[:-2] + b"x" * (size - len(shell)) + b'"}'


def chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    """The body as an iterator: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_body_and_rate_limits_hold_in_the_served_process(
    service_runner: ServiceRunner, test_env: dict[str, str]
) -> None:
    asyncio.run(migrate(test_env["DATABASE_URL"]))
    api = service_runner.start(
        "api",
        env={
            "API_ALLOWED_BUCKETS": test_env["S3_BUCKET"],
            "API_MAX_BODY_BYTES": str(MAX_BODY),
            "API_RATE_LIMIT_PER_S": "0.01",  # a token every 100 s: none comes back in the test
            "API_RATE_LIMIT_BURST": str(BURST),
        },
    )

    def bearer(tenant: str) -> dict[str, str]:
        token = issue_token(
            test_env["JWT_SECRET"], tenant, test_env.get("JWT_AUDIENCE", "dicompress")
        )
        return {"Authorization": f"Bearer {token}"}

    json_type = {"Content-Type": "application/json"}
    with httpx.Client(base_url=api.base_url, timeout=30) as http:
        acme = {**bearer("acme"), **json_type}
        # one byte over, announced: refused from the header
        announced = http.post("/jobs", content=padded(MAX_BODY + 1), headers=acme)
        assert announced.request.headers["content-length"] == str(MAX_BODY + 1)
        # one byte over, chunked: refused as the body streams in
        streamed = http.post("/jobs", content=chunks(padded(MAX_BODY + 1)), headers=acme)
        assert "content-length" not in streamed.request.headers
        assert streamed.request.headers["transfer-encoding"] == "chunked"
        for refused in (announced, streamed):
            assert refused.status_code == 413, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            problem = refused.json()
            assert problem["status"] == 413
            assert f"larger than {MAX_BODY} bytes" in problem["detail"]
        # at the limit, both ways: past the limit to validation, which names the unknown field
        for content in (padded(MAX_BODY), chunks(padded(MAX_BODY))):
            validated = http.post("/jobs", content=content, headers=acme)
            assert validated.status_code == 422, validated.text
            assert validated.headers["content-type"] == "application/problem+json"
            assert "pad" in validated.text
        # the rate limit: a burst of BURST requests, then 429 with Retry-After
        globex = bearer("globex")
        codes = [http.get("/jobs", headers=globex).status_code for _ in range(BURST)]
        limited = http.get("/jobs", headers=globex)
        assert codes == [200] * BURST
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["status"] == 429
        assert int(limited.headers["retry-after"]) >= 1
        # per tenant: another one is not held back by globex's empty bucket
        assert http.get("/jobs", headers=bearer("initech")).status_code == 200
