"""Property-based requests generated from the live API's own OpenAPI document (schemathesis).

The API runs as deployed (`python -m dicompress_api`, real Kafka, Postgres and S3 behind it);
every operation gets a bounded number of generated requests carrying a valid bearer token, and
no answer may be a server error or disagree with what the document promises (status codes,
content types, response bodies).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dicompress_infra.auth import issue_token
from dicompress_infra.s3 import make_s3_client
from dicompress_infra.settings import CommonSettings
from dicompress_progress.migrate import apply_migrations
from dicompress_stack.testing import ServiceRunner

pytestmark = pytest.mark.integration

# Per operation: enough to reach every parameter's edge cases, small enough for the suite's
# budget (the whole run stays well under a minute on 2 cores).
MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated bodies almost never name a real source under the tenant's prefix: each submit
# operation also gets one explicit valid request, so the accepting path is exercised too.
SUBMIT_OPERATIONS = frozenset({"POST /jobs", "POST /compress-dicom"})
# Long-lived answers a generated request could open; they are tested on their own.
SKIPPED_OPERATIONS = frozenset({"GET /metrics"})


async def migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


def check_operation(
    operation: Any, base_url: str, session: requests.Session, valid_body: dict[str, Any]
) -> None:
    """Run the generated cases of one operation; hypothesis reports the first failing one."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,  # no example database: the suite must not depend on earlier runs
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, session=session, checks=CHECKS, timeout=15)

    if operation.label in SUBMIT_OPERATIONS:
        run = example(case=operation.Case(body=valid_body, media_type="application/json"))(run)
    run()


def test_generated_requests_get_no_server_error_and_conform_to_the_document(
    service_runner: ServiceRunner,
    test_env: dict[str, str],
    settings_for: Callable[..., Any],
) -> None:
    asyncio.run(migrate(test_env["DATABASE_URL"]))  # the progress service's schema
    api = service_runner.start(
        "api",
        env={
            "API_ALLOWED_BUCKETS": test_env["S3_BUCKET"],
            # Not what is under test here: keep the queue and rate limits out of the way.
            "API_MAX_QUEUE_LENGTH": "1000000",
            "API_RATE_LIMIT_PER_S": "100000",
            "API_RATE_LIMIT_BURST": "100000",
        },
    )
    token = issue_token(test_env["JWT_SECRET"], "acme", "dicompress")
    bucket = test_env["S3_BUCKET"]
    s3 = make_s3_client(settings_for(CommonSettings))
    try:
        s3.put_object(Bucket=bucket, Key="acme/series/0001.dcm", Body=b"DICM" * 64)
    finally:
        s3.close()
    valid_body = {
        "s3SourceUri": f"s3://{bucket}/acme/series/",
        "s3TargetUri": f"s3://{bucket}/acme/out/",
    }
    # The streamed upload's body is the raw bytes of a ZIP or a DICOM file.
    for media_type in ("application/zip", "application/dicom"):
        schemathesis.serializer.alias(media_type, "application/octet-stream")
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    failures: dict[str, str] = {}
    tested: list[str] = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.label in SKIPPED_OPERATIONS:
                continue
            tested.append(operation.label)
            try:
                check_operation(operation, api.base_url, session, valid_body)
            except AssertionError as exc:  # schemathesis's failures are AssertionErrors
                failures[operation.label] = str(exc)[:3000]
    assert len(tested) >= 10, tested  # the document lists the whole surface
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
